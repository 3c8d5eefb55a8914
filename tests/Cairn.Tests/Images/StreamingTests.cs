using System.Runtime.InteropServices;
using Cairn.Snapshot;

namespace Cairn.Tests.Images;

/// <summary>
/// Large files stream through the read-ahead: through the page cache when they are cached, with O_DIRECT when they
/// are not. Either way the chunks, and so the tree hash, must be the same, for content-defined chunks that straddle
/// segments as for fixed blocks, for sizes that are not a multiple of a page, and around holes.
/// </summary>
public sealed partial class StreamingTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Cold_and_cached_large_files_give_the_same_snapshot(bool image)
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var directory = workspace.PathOf("tree");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "big.bin");
        var random = new Random(42);
        using (var file = File.Create(path))
        {
            var data = new byte[(9 << 20) + 1234];
            random.NextBytes(data);
            file.Write(data, 0, 5 << 20);
            file.Position = (11 << 20) + 4096; // a hole of 6 MiB and a page
            file.Write(data, 5 << 20, data.Length - (5 << 20));
            file.Flush(flushToDisk: true);
        }

        var expected = ImageState.Of(path);
        var cached = await SnapshotAsync(workspace, path, image);
        Evict(path);
        var cold = await SnapshotAsync(workspace, path, image);

        Assert.Equal(cached.Tree, cold.Tree);
        Assert.Equal(cached.Stats.BytesRead, cold.Stats.BytesRead);
        Assert.Equal(0, cold.Stats.NewChunks);
        await workspace.RestoreAsync(cold, workspace.PathOf("restored"));
        Assert.Equal(expected.Hash, ImageState.Of(workspace.PathOf("restored/big.bin")).Hash);
    }

    private static async Task<Repository.SnapshotRecord> SnapshotAsync(ImageWorkspace workspace, string path, bool image)
    {
        var archiver = new Archiver(workspace.Repository, new SnapshotOptions());
        var result = image ? await archiver.SnapshotImagesAsync([path]) : await archiver.SnapshotAsync(Path.GetDirectoryName(path)!);
        return result.Snapshot;
    }

    /// <summary>Drops the file's pages from the page cache, so the next read finds it cold.</summary>
    private static void Evict(string path)
    {
        using var file = File.OpenHandle(path);
        Assert.Equal(0, PosixFadvise(file.DangerousGetHandle().ToInt32(), 0, 0, 4)); // POSIX_FADV_DONTNEED
        using var fd = Cairn.Native.Linux.FileDescriptor.FromRaw(Dup(file.DangerousGetHandle().ToInt32()));
        Assert.InRange(Cairn.Native.Linux.LinuxFile.CachedPages(fd), 0, 15);
    }

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFadvise(int fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "dup")]
    private static partial int Dup(int fd);
}
