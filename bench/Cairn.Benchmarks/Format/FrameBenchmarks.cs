using BenchmarkDotNet.Attributes;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Zstd;

namespace Cairn.Benchmarks.Format;

/// <summary>One 2 MiB frame of text-like data: compress at the levels a repository may use, and the verified read path.</summary>
[MemoryDiagnoser]
public class FrameBenchmarks
{
    private byte[] _frame = [];
    private byte[] _compressed = [];
    private byte[] _output = [];
    private FrameRecord _record;
    private ZstdEncoder _level1 = null!;
    private ZstdEncoder _level3 = null!;

    [GlobalSetup]
    public void Setup()
    {
        _frame = TestData.Text(2 << 20);
        _level1 = new ZstdEncoder(1);
        _level3 = new ZstdEncoder(3);
        _output = new byte[ZstdEncoder.GetMaxCompressedLength(_frame.Length)];
        var n = _level3.Compress(_frame, _output);
        _compressed = _output.AsSpan(0, n).ToArray();
        _record = new FrameRecord { Offset = 16, CompressedLength = (uint)n, UncompressedLength = (uint)_frame.Length, Checksum = Crc32C.Compute(_compressed) };
    }

    [Benchmark(Description = "zstd -1 compress 2 MiB frame")]
    public int CompressLevel1() => _level1.Compress(_frame, _output);

    [Benchmark(Description = "zstd -3 compress 2 MiB frame")]
    public int CompressLevel3() => _level3.Compress(_frame, _output);

    [Benchmark(Description = "decode 2 MiB frame (CRC-32C + zstd -d)")]
    public void Decode() => FrameCodec.Decode(_compressed, _record, _output, "bench");
}
