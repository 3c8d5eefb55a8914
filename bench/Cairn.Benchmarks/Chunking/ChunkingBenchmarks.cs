using BenchmarkDotNet.Attributes;
using Cairn.Chunking;
using Cairn.Format;

namespace Cairn.Benchmarks.Chunking;

/// <summary>Throughput of cutting (FastCDC) and naming (SHA-256) chunks: the per-byte CPU cost of a snapshot besides zstd.</summary>
[MemoryDiagnoser]
public class ChunkingBenchmarks
{
    private readonly FastCdc _chunker = new(ChunkerParameters.Default);
    private byte[] _data = [];

    [GlobalSetup]
    public void Setup() => _data = TestData.Random(64 << 20);

    [Benchmark(Description = "FastCDC cut, 64 MiB")]
    public int Cut()
    {
        var count = 0;
        var rest = _data.AsSpan();
        while (!rest.IsEmpty)
        {
            rest = rest[_chunker.NextCut(rest, isFinal: true)..];
            count++;
        }

        return count;
    }

    [Benchmark(Description = "FastCDC cut + SHA-256, 64 MiB")]
    public ContentId CutAndHash()
    {
        ContentId last = default;
        var rest = _data.AsSpan();
        while (!rest.IsEmpty)
        {
            var n = _chunker.NextCut(rest, isFinal: true);
            last = ContentId.Hash(rest[..n]);
            rest = rest[n..];
        }

        return last;
    }

    [Benchmark(Description = "CRC-32C, 64 MiB")]
    public uint Crc() => Crc32C.Compute(_data);
}
