using BenchmarkDotNet.Attributes;
using Cairn.Native.Hashing;
using FrameworkSha256 = System.Security.Cryptography.SHA256;

namespace Cairn.Benchmarks.Hashing;

/// <summary>
/// SHA-256 by nettle (what Cairn uses) against the framework's (OpenSSL), on the two shapes Cairn hashes: 64 MiB as
/// 4 KiB image blocks (a restore verifies every block), and one 2 MiB buffer (a large chunk, a pack, a manifest).
/// </summary>
public class Sha256Benchmarks
{
    private const int BlockSize = 4 << 10;
    private byte[] _blocks = [];
    private byte[] _large = [];
    private readonly byte[] _digest = new byte[Sha256.HashSizeInBytes];

    [GlobalSetup]
    public void Setup()
    {
        _blocks = TestData.Text(64 << 20);
        _large = TestData.Text(2 << 20);
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
