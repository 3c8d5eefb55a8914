using System.Buffers.Binary;
using System.Numerics;
using BenchmarkDotNet.Attributes;
using Cairn.Format;

namespace Cairn.Benchmarks.Format;

/// <summary>
/// CRC-32C of a compressed frame's size (~0.6 MiB, what a restore checks per frame): Cairn's three interleaved streams
/// against one chain of CRC instructions, the loop it replaced.
/// </summary>
public class Crc32CBenchmarks
{
    private byte[] _data = [];

    [GlobalSetup]
    public void Setup() => _data = TestData.Text(600 << 10);

    [Benchmark(Description = "CRC-32C, three streams (Cairn)")]
    public uint ThreeStreams() => Crc32C.Compute(_data);

    [Benchmark(Description = "CRC-32C, one stream", Baseline = true)]
    public uint OneStream()
    {
        var crc = ~0u;
        ReadOnlySpan<byte> data = _data;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }
}
