using BenchmarkDotNet.Attributes;
using Cairn.Native.Hashing;
using FrameworkSha256 = System.Security.Cryptography.SHA256;

namespace Cairn.Benchmarks.Hashing;

/// <summary>
/// SHA-256 by nettle (what Cairn uses for one message) against the framework's (OpenSSL), on the two shapes Cairn
/// hashes: 64 MiB as 4 KiB image blocks (a restore verifies every block), and one 2 MiB buffer (a large chunk, a pack, a
/// manifest); and <see cref="Sha256.HashMany"/>, what Cairn uses for batches: the same blocks a 2 MiB frame (512
/// blocks) per call, and frames of tree chunks of mixed sizes (16–256 KiB, as FastCDC cuts them).
/// </summary>
public class Sha256Benchmarks
{
    private const int BlockSize = 4 << 10;
    private byte[] _blocks = [];
    private const int FrameSize = 2 << 20;
    private byte[] _large = [];
    private readonly byte[] _digest = new byte[Sha256.HashSizeInBytes];
    private MessageRange[] _frameBlocks = [];
    private MessageRange[][] _frameChunks = [];
    private byte[] _digests = [];

    [GlobalSetup]
    public void Setup()
    {
        _blocks = TestData.Text(64 << 20);
        _large = TestData.Text(2 << 20);
        _frameBlocks = [.. Enumerable.Range(0, FrameSize / BlockSize).Select(i => new MessageRange(i * BlockSize, BlockSize))];
        var random = new Random(42);
        _frameChunks = new MessageRange[_blocks.Length / FrameSize][];
        for (var frame = 0; frame < _frameChunks.Length; frame++)
        {
            var chunks = new List<MessageRange>();
            for (var at = 0; at < FrameSize;)
            {
                var length = Math.Min(16 << 10 << random.Next(0, 5), FrameSize - at); // 16, 32, 64, 128, 256 KiB
                chunks.Add(new MessageRange((frame * FrameSize) + at, length));
                at += length;
            }

            _frameChunks[frame] = [.. chunks];
        }

        _digests = new byte[FrameSize / BlockSize * Sha256.HashSizeInBytes];
    }

    [Benchmark(Description = "HashMany: 64 MiB as 4 KiB blocks, a frame per call")]
    public byte ManyBlocks()
    {
        for (var offset = 0; offset < _blocks.Length; offset += FrameSize)
        {
            Sha256.HashMany(_blocks.AsSpan(offset, FrameSize), _frameBlocks, _digests);
        }

        return _digests[0];
    }

    [Benchmark(Description = "HashMany: 64 MiB as 16-256 KiB chunks, a frame per call")]
    public byte ManyChunks()
    {
        foreach (var chunks in _frameChunks)
        {
            Sha256.HashMany(_blocks, chunks, _digests);
        }

        return _digests[0];
    }

    [Benchmark(Description = "nettle: 64 MiB as 16-256 KiB chunks, one by one")]
    public byte NettleChunks()
    {
        foreach (var chunks in _frameChunks)
        {
            foreach (var chunk in chunks)
            {
                Sha256.HashData(_blocks.AsSpan(chunk.Offset, chunk.Length), _digest);
            }
        }

        return _digest[0];
    }

    [Benchmark(Description = "nettle: 64 MiB as 4 KiB blocks")]
    public byte NettleBlocks()
    {
        for (var offset = 0; offset < _blocks.Length; offset += BlockSize)
        {
            Sha256.HashData(_blocks.AsSpan(offset, BlockSize), _digest);
        }

        return _digest[0];
    }

    [Benchmark(Description = "framework: 64 MiB as 4 KiB blocks", Baseline = true)]
    public byte FrameworkBlocks()
    {
        for (var offset = 0; offset < _blocks.Length; offset += BlockSize)
        {
            FrameworkSha256.HashData(_blocks.AsSpan(offset, BlockSize), _digest);
        }

        return _digest[0];
    }

    [Benchmark(Description = "nettle: one 2 MiB buffer")]
    public byte NettleLarge()
    {
        Sha256.HashData(_large, _digest);
        return _digest[0];
    }

    [Benchmark(Description = "framework: one 2 MiB buffer")]
    public byte FrameworkLarge()
    {
        FrameworkSha256.HashData(_large, _digest);
        return _digest[0];
    }
}
