using Cairn.Format;
using Cairn.Mount;

namespace Cairn.Tests.Mount;

public sealed class FrameCacheTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("cairn-cache-").FullName;

    [Fact]
    public void Two_processes_share_one_limit_and_tolerate_files_removed_behind_their_back()
    {
        const int frame = 100_000;
        var first = FrameCache.Open(_root, "repo1", 5 * frame)!;
        var second = FrameCache.Open(_root, "repo1", 5 * frame)!; // another process: its own ledger lock, same files
        var pack = ContentId.Hash("pack"u8);
        for (var i = 0; i < 20; i++)
        {
            Assert.True((i % 2 == 0 ? first : second).TryStore(pack, i * frame, Data(frame, i)));
            Assert.InRange(CachedBytes(), frame, 5 * frame);
            if (i == 10)
            {
                // Someone else evicts (or a user cleans up) without telling anyone.
                foreach (var file in Directory.EnumerateFiles(Path.Combine(first.Directory, "frames"), "*", SearchOption.AllDirectories).Take(2))
                {
                    File.Delete(file);
                }
            }
        }

        // The most recent frames stay; the oldest went first.
        Assert.True(first.Contains(pack, 19 * frame));
        Assert.False(first.Contains(pack, 0));
        using var handle = second.TryOpen(pack, 19 * frame, frame);
        Assert.NotNull(handle);
        var read = new byte[frame];
        RandomAccess.Read(handle, read, 0);
        Assert.Equal(Data(frame, 19), read);
        Assert.Equal(CachedBytes(), first.UsedBytes());
    }

    [Fact]
    public void A_frame_of_the_wrong_size_is_dropped_and_a_frame_larger_than_the_limit_is_not_stored()
    {
        var cache = FrameCache.Open(_root, "repo2", 1000)!;
        var pack = ContentId.Hash("pack"u8);
        Assert.True(cache.TryStore(pack, 0, new byte[500]));
        Assert.Null(cache.TryOpen(pack, 0, 400));
        Assert.False(cache.Contains(pack, 0));
        Assert.False(cache.TryStore(pack, 1, new byte[1001]));
        Assert.Null(FrameCache.Open(_root, "repo2", 0));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(cache.Directory, "tmp")));
    }

    [Fact]
    public void A_trace_round_trips_and_a_truncated_or_foreign_one_is_refused()
    {
        ContentId[] chunks = [ContentId.Hash("a"u8), ContentId.Hash("b"u8)];
        var bytes = TraceFile.Encode(chunks, 3);
        Assert.Equal(chunks, TraceFile.Decode(bytes, "t"));
        Assert.Throws<CorruptDataException>(() => TraceFile.Decode(bytes.AsSpan(0, bytes.Length - 3), "t"));
        Assert.Throws<CorruptDataException>(() => TraceFile.Decode("CAIRNIDX\x01\0\0\0\0\0\0\0"u8, "t"));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private long CachedBytes() => Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories)
        .Where(f => f.Contains("/frames/", StringComparison.Ordinal))
        .Sum(f => new FileInfo(f).Length);

    private static byte[] Data(int size, int seed)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }
}
