using Cairn.Restore;
using Cairn.Tests.Support;
using Cairn.Tests.Fuse;

namespace Cairn.Tests.Images;

/// <summary>A fact that needs a loop-mounted XFS: skipped (not failed) without root or the tools.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LoopXfsFactAttribute : FactAttribute
{
    public LoopXfsFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = "Reflink tests mount a loop device: they need root.";
        }
        else if (new[] { "mkfs.xfs", "losetup", "mount", "umount", "filefrag" }.FirstOrDefault(t => ProcessRunner.FindTool(t) is null) is { } missing)
        {
            Skip = $"Reflink tests need '{missing}'.";
        }
    }
}

/// <summary>
/// An XFS file system (reflink on) in a sparse file, loop-mounted under a temporary directory. Dispose unmounts it,
/// detaches the loop device and removes everything, also when the test failed half-way.
/// </summary>
internal sealed class LoopXfs : IAsyncDisposable
{
    private readonly string _root;
    private string? _device;
    private bool _mounted;

    private LoopXfs(string root)
    {
        _root = root;
        MountPoint = Path.Combine(root, "mnt");
    }

    public string MountPoint { get; }

    public static async Task<LoopXfs> CreateAsync()
    {
        var xfs = new LoopXfs(Directory.CreateTempSubdirectory("cairn-xfs-").FullName);
        try
        {
            var image = Path.Combine(xfs._root, "xfs.img");
            using (var file = File.Create(image))
            {
                file.SetLength(320L << 20); // the smallest XFS mkfs.xfs makes
            }

            await Run("mkfs.xfs", "-q", "-m", "reflink=1", image);
            xfs._device = (await Run("losetup", "--find", "--show", image)).Trim();
            Directory.CreateDirectory(xfs.MountPoint);
            await Run("mount", xfs._device, xfs.MountPoint);
            xfs._mounted = true;
            return xfs;
        }
        catch
        {
            await xfs.DisposeAsync();
            throw;
        }
    }

    public string PathOf(string relative) => Path.Combine(MountPoint, relative);

    /// <summary>
    /// Bytes allocated on the file system (df's "used"), once what was written is on it. Before writeback, XFS counts
    /// reservations for delayed allocation (and speculative preallocation past EOF) as used, and gives them back as it
    /// writes: measured then, a restore of 4 MiB once came out 40 MiB "smaller" than nothing.
    /// </summary>
    public async Task<long> UsedBytesAsync()
    {
        await Run("sync", "-f", MountPoint); // syncfs: this file system's data and metadata
        var drive = new DriveInfo(MountPoint);
        return drive.TotalSize - drive.TotalFreeSpace;
    }

    public static async Task<string> Run(string tool, params string[] arguments)
    {
        var (exitCode, output, error) = await ProcessRunner.RunAsync(ProcessRunner.FindTool(tool)!, arguments);
        Assert.True(exitCode == 0, $"{tool} {string.Join(' ', arguments)} exited with {exitCode}: {error}");
        return System.Text.Encoding.UTF8.GetString(output);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_mounted)
            {
                await Run("umount", MountPoint);
            }
        }
        finally
        {
            if (_device is not null)
            {
                await Run("losetup", "-d", _device);
            }

            Directory.Delete(_root, recursive: true);
        }
    }
}

[Collection(FuseMountsDefinition.Name)] // mounts run one after another
public sealed class ReflinkRestoreTests
{
    private const long ImageBlocks = 8192; // 32 MiB

    [LoopXfsFact]
    public async Task Blocks_shared_with_the_base_are_cloned_not_written()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        await using var xfs = await LoopXfs.CreateAsync();
        var image = new TestImage(workspace.PathOf("mem.img"), ImageBlocks, seed: 3);
        image.Change(4096, zeroOneIn: int.MaxValue);
        var first = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        var before = image.State();
        image.Change(64, zeroOneIn: 4);
        var after = image.State();
        var second = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;

        var baseResult = await workspace.RestoreAsync(first, xfs.PathOf("v1"));
        Assert.Equal(0, baseResult.BytesCloned);
        var used = await xfs.UsedBytesAsync();
        var result = await workspace.RestoreAndCheckAsync(second, after, "mem.img", xfs.PathOf("v2"), new RestoreOptions { ReflinkFrom = xfs.PathOf("v1") });
        before.AssertRestoredAs(xfs.PathOf("v1/mem.img"));
        Assert.Empty(result.Warnings);
        var unchanged = after.NonZeroBlocks.Count(b => before.NonZeroBlocks.Contains(b)) - 64;
        Assert.InRange(result.BytesCloned, (long)unchanged * TestImage.Block, (long)after.NonZeroBlocks.Count * TestImage.Block);
        Assert.Equal(after.NonZeroBlocks.Count * (long)TestImage.Block, result.Bytes + result.BytesCloned);
        Assert.InRange(result.Bytes, 1, 64L * TestImage.Block);

        // The clone shares extents with the base (filefrag: "shared"), and takes only the new blocks' space.
        Assert.Contains("shared", await LoopXfs.Run("filefrag", "-v", xfs.PathOf("v2/mem.img")), StringComparison.Ordinal);
        Assert.InRange(await xfs.UsedBytesAsync() - used, 0, result.Bytes + (4L << 20));
    }

    [LoopXfsFact]
    public async Task Blocks_the_base_holds_at_other_offsets_are_cloned_from_there()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        await using var xfs = await LoopXfs.CreateAsync();
        var image = new DenseImage(workspace.PathOf("disk.img"), 1024, seed: 6);
        var first = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        await workspace.RestoreAsync(first, xfs.PathOf("v1"));

        // The guest's file system moved a stretch of blocks (as ext4 does when packages are installed), and wrote a few new ones.
        image.Data.AsSpan(0, 256 * TestImage.Block).CopyTo(image.Data.AsSpan(512 * TestImage.Block));
        image.Randomize(0, 16);
        var expected = ImageState.Of(image.Path);
        var second = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;

        var result = await workspace.RestoreAndCheckAsync(second, expected, "disk.img", xfs.PathOf("v2"), new RestoreOptions { ReflinkFrom = xfs.PathOf("v1") });
        Assert.Empty(result.Warnings);
        Assert.Equal(16L * TestImage.Block, result.Bytes); // only the new blocks come from the repository
        Assert.Equal((1024 - 16) * (long)TestImage.Block, result.BytesCloned);
    }

    [LoopXfsFact]
    public async Task A_base_on_another_file_system_falls_back_to_copying()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        await using var xfs = await LoopXfs.CreateAsync();
        var image = new TestImage(workspace.PathOf("mem.img"), ImageBlocks, seed: 4);
        image.Change(512);
        var first = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        image.Change(16);
        var expected = image.State();
        var second = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;

        await workspace.RestoreAsync(first, workspace.PathOf("v1")); // not on the XFS
        var result = await workspace.RestoreAndCheckAsync(second, expected, "mem.img", xfs.PathOf("v2"), new RestoreOptions { ReflinkFrom = workspace.PathOf("v1") });
        Assert.Equal(0, result.BytesCloned);
        Assert.Contains(result.Warnings, w => w.Contains("copied instead", StringComparison.Ordinal));
    }

    [LoopXfsFact]
    public async Task A_base_changed_since_its_restore_is_not_used()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        await using var xfs = await LoopXfs.CreateAsync();
        var image = new TestImage(workspace.PathOf("mem.img"), ImageBlocks, seed: 5);
        image.Change(512, zeroOneIn: int.MaxValue);
        var first = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        image.Change(16);
        var expected = image.State();
        var second = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        await workspace.RestoreAsync(first, xfs.PathOf("v1"));

        // A VM ran from the base and wrote to it: its blocks are no longer what the manifest says.
        using (var file = new FileStream(xfs.PathOf("v1/mem.img"), FileMode.Open, FileAccess.Write))
        {
            var junk = new byte[TestImage.Block];
            junk.AsSpan().Fill(0xAB);
            file.Write(junk);
        }

        var result = await workspace.RestoreAndCheckAsync(second, expected, "mem.img", xfs.PathOf("v2"), new RestoreOptions { ReflinkFrom = xfs.PathOf("v1") });
        Assert.Equal(0, result.BytesCloned);
        Assert.Contains(result.Warnings, w => w.Contains("changed since it was restored", StringComparison.Ordinal));
    }
}
