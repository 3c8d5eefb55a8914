using Cairn.Buffers;
using Cairn.IO;
using Cairn.Native.Linux;

namespace Cairn.Tests.IO;

public sealed class UncachedFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("cairn-uncached-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    public static TheoryData<int, bool> Sizes => new()
    {
        { 0, false },
        { 100, false },
        { UncachedFile.DirectThreshold - 1, false },
        { UncachedFile.DirectThreshold, true },
        { UncachedFile.DirectThreshold, false },
        { (3 << 20) + 123, true },   // a tail after the whole pages
        { (3 << 20) + 123, false },  // through more than one bounce buffer
        { 2 << 20, false },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void The_file_holds_exactly_the_data(int length, bool pageAligned)
    {
        var expected = RandomBytes(length);
        var path = Path.Combine(_directory, "f");
        if (pageAligned)
        {
            using var buffer = new PageAlignedBuffer(length);
            expected.CopyTo(buffer.Span);
            UncachedFile.Create(path, buffer.Span, durable: true);
        }
        else
        {
            // One byte into an array: never on a page boundary.
            var shifted = new byte[length + 1];
            expected.CopyTo(shifted, 1);
            UncachedFile.Create(path, shifted.AsSpan(1), durable: false);
        }

        Assert.Equal(expected, File.ReadAllBytes(path));
    }

    [PageCacheFact]
    public void A_large_file_bypasses_the_page_cache()
    {
        var path = Path.Combine(_directory, "f");
        var data = RandomBytes(4 << 20);
        UncachedFile.Create(path, data, durable: false);

        using var fd = LinuxFile.Open(path, OpenFlags.ReadOnly);
        var cached = LinuxFile.CachedPages(fd);

        // Buffered, all 1,024 pages would be in the cache until written back and evicted.
        Assert.True(cached < 16, $"{cached} pages of the file are in the page cache");
        Assert.Equal(data, File.ReadAllBytes(path));
    }

    [Fact]
    public void An_existing_file_is_not_overwritten()
    {
        var path = Path.Combine(_directory, "f");
        File.WriteAllBytes(path, [1, 2, 3]);

        var e = Assert.Throws<LinuxIOException>(() => UncachedFile.Create(path, RandomBytes(1 << 20), durable: false));

        Assert.Equal(Errno.EEXIST, e.Errno);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_file_on_tmpfs_holds_exactly_the_data()
    {
        // tmpfs has O_DIRECT only since Linux 6.6; before, this takes the buffered path. Either way the content must
        // come out whole.
        var path = Path.Combine("/dev/shm", $"cairn-uncached-{Guid.NewGuid():N}");
        try
        {
            var data = RandomBytes((1 << 20) + 7);
            UncachedFile.Create(path, data, durable: true);
            Assert.Equal(data, File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static byte[] RandomBytes(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        return data;
    }

    /// <summary>Runs where the kernel can tell what is in the page cache and the temporary directory takes O_DIRECT.</summary>
    private sealed class PageCacheFactAttribute : FactAttribute
    {
        public PageCacheFactAttribute()
        {
            var probe = Path.Combine(Path.GetTempPath(), $"cairn-probe-{Guid.NewGuid():N}");
            try
            {
                File.WriteAllBytes(probe, [0]);
                using var fd = LinuxFile.Open(probe, OpenFlags.ReadOnly);
                if (LinuxFile.CachedPages(fd) < 0)
                {
                    Skip = "cachestat(2) is not available (Linux before 6.5)";
                }
                else if (!LinuxFile.TrySetDirect(fd, true))
                {
                    Skip = "the file system of the temporary directory has no direct I/O";
                }
            }
            finally
            {
                File.Delete(probe);
            }
        }
    }
}
