using System.Runtime.Versioning;
using Cairn.Mount;
using Cairn.Repository;
using Cairn.Restore;
using Cairn.Snapshot;
using Cairn.Tests.Fuse;
using Cairn.Tests.Images;
using Cairn.Tests.Support;

namespace Cairn.Tests.Mount;

/// <summary>
/// <c>snapshot --from-mount</c> of a writable mount of an image snapshot, on real mounts: an image snapshot whose
/// parent is the mounted one, made as <c>snapshot --image</c> of the mount's files would make it, from the upper
/// directory (untouched images are not read), and what an image snapshot cannot hold refused.
/// </summary>
[Collection(FuseMountsDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed class WritableImageMountTests
{
    private const int Block = TestImage.Block;

    [FuseFact]
    public Task A_block_changed_through_a_kernel_overlay_is_stored_as_one_block_of_an_image_snapshot() => OneBlockChangedAsync(OverlayFlavor.Kernel);

    [FuseFact("fuse-overlayfs")]
    public Task A_block_changed_through_fuse_overlayfs_is_stored_as_one_block_of_an_image_snapshot() => OneBlockChangedAsync(OverlayFlavor.FuseOverlayfs);

    private static async Task OneBlockChangedAsync(OverlayFlavor flavor)
    {
        await using var lab = await MountLab.CreateAsync();
        var (rootfs, _, vm, mount) = await MountImagesAsync(lab, flavor);
        Write(mount, "rootfs.ext4", "NEWDATA"u8, Block); // 7 bytes of block 1: the overlay copies the image up whole

        var readsBefore = await WritableMountTests.SettledReadsAsync(mount.Statistics);
        var result = await SnapshotMountAsync(lab, mount);
        var snapshot = result.Snapshot;

        Assert.Equal(SnapshotRecord.ImageKind, snapshot.Kind);
        Assert.Equal(vm.Id.ToString(), snapshot.Parent);
        Assert.Equal(Block, snapshot.Stats.NewBytes); // the block written, and nothing else: the rest dedups against the parent
        Assert.Equal(1, snapshot.Stats.NewChunks);
        Assert.Equal(2, snapshot.Stats.Files);
        Assert.Equal(1, snapshot.Stats.UnchangedFiles);
        Assert.Equal(rootfs.Blocks * Block, snapshot.Stats.BytesRead); // the upper copy of rootfs.ext4, and not mem.img
        Assert.Equal(readsBefore, mount.Statistics.Reads); // nothing read through the snapshot's mount
        Assert.Equal([Path.Combine(mount.MountPoint, "mem.img"), Path.Combine(mount.MountPoint, "rootfs.ext4")], snapshot.Paths);
        Assert.Empty(result.Warnings);
        Assert.Empty(result.Relayouts);

        var merged = mount;
        if (flavor == OverlayFlavor.FuseOverlayfs)
        {
            // fuse-overlayfs shows a written file's mtime from the kernel until it is mounted again (docs/mount.md).
            await mount.DisposeAsync();
            merged = await lab.MountWritableAsync(vm, flavor, mount.Directory.Path);
        }

        // Restored byte for byte as the mount shows the images, with holes where their blocks are zero.
        await AssertRestoresAsMountedAsync(lab, snapshot, merged, "rootfs.ext4", "mem.img");

        // The same snapshot as `snapshot --image` of the mount's files with the mounted snapshot as parent: the same
        // tree (every block, every image's metadata), nothing new to store.
        var named = await new Archiver(lab.Repository, new SnapshotOptions { Parent = vm.Id.ToString() })
            .SnapshotImagesAsync([Path.Combine(merged.MountPoint, "rootfs.ext4"), Path.Combine(merged.MountPoint, "mem.img")]);
        Assert.Equal(snapshot.Tree, named.Snapshot.Tree);
        Assert.Equal(0, named.Snapshot.Stats.NewBytes);
    }

    [FuseFact]
    public Task An_image_deleted_in_a_kernel_overlay_is_dropped_and_a_new_file_is_a_new_image() => DeletedAndNewAsync(OverlayFlavor.Kernel);

    [FuseFact("fuse-overlayfs")]
    public Task An_image_deleted_in_fuse_overlayfs_is_dropped_and_a_new_file_is_a_new_image() => DeletedAndNewAsync(OverlayFlavor.FuseOverlayfs);

    private static async Task DeletedAndNewAsync(OverlayFlavor flavor)
    {
        await using var lab = await MountLab.CreateAsync();
        var (_, _, vm, mount) = await MountImagesAsync(lab, flavor);
        File.Delete(Path.Combine(mount.MountPoint, "mem.img"));
        using (var image = File.OpenHandle(Path.Combine(mount.MountPoint, "disk2.img"), FileMode.CreateNew, FileAccess.Write))
        {
            RandomAccess.Write(image, new byte[Block].AsSpan(), 0);
            RandomAccess.Write(image, "a new image"u8, 3 * Block);
            RandomAccess.Write(image, "its last block"u8, 9 * Block);
            RandomAccess.SetLength(image, 12 * Block); // zeros, holes, data, holes, data, a hole at the end
        }

        var readsBefore = await WritableMountTests.SettledReadsAsync(mount.Statistics);
        var snapshot = (await SnapshotMountAsync(lab, mount)).Snapshot;

        Assert.Equal(SnapshotRecord.ImageKind, snapshot.Kind);
        Assert.Equal(vm.Id.ToString(), snapshot.Parent);
        Assert.Equal([Path.Combine(mount.MountPoint, "disk2.img"), Path.Combine(mount.MountPoint, "rootfs.ext4")], snapshot.Paths);
        Assert.Equal(2, snapshot.Stats.Files);
        Assert.Equal(1, snapshot.Stats.UnchangedFiles); // rootfs.ext4, taken over unread
        Assert.Equal(12 * Block, snapshot.Stats.BytesRead);
        Assert.Equal(readsBefore, mount.Statistics.Reads);

        var restored = await AssertRestoresAsMountedAsync(lab, snapshot, mount, "disk2.img", "rootfs.ext4");
        Assert.False(File.Exists(Path.Combine(restored, "mem.img")));
    }

    /// <summary>
    /// The lineage goes on from a snapshot of the mount (through the command line, as a user runs it): the tag moved to
    /// it is the parent `snapshot --image --tag` takes, and so is the latest snapshot of the mount's image paths.
    /// </summary>
    [FuseFact]
    public async Task Image_snapshots_of_the_lineage_take_a_snapshot_of_the_mount_as_their_parent()
    {
        await using var lab = await MountLab.CreateAsync();
        var (rootfs, memory, vm, mount) = await MountImagesAsync(lab, OverlayFlavor.Kernel);
        Write(mount, "mem.img", "NEWDATA"u8, 5 * Block);

        var saved = await CairnCli.RunAsync(lab.RepositoryPath, "--json", "snapshot", "--from-mount", mount.MountPoint, "--tag", "vm", "--relayout-above", "5");
        Assert.True(saved.ExitCode == 0, saved.ToString());
        Assert.Equal("image", saved.Json.GetProperty("kind").GetString());
        Assert.Equal(vm.Id.ToString(), ParentOf(saved));
        var fromMount = saved.Json.GetProperty("id").GetString();

        // The tag's snapshot: the images where they were snapshotted first, which the mount's changes never reached.
        var byTag = await CairnCli.RunAsync(lab.RepositoryPath, "--json", "snapshot", "--image", rootfs.Path, memory.Path, "--tag", "vm");
        Assert.True(byTag.ExitCode == 0, byTag.ToString());
        Assert.Equal(fromMount, ParentOf(byTag));
        Assert.Equal(0, byTag.Json.GetProperty("stats").GetProperty("newBytes").GetInt64()); // block 5 of mem.img as vm has it: stored already
        Assert.Equal(1, byTag.Json.GetProperty("stats").GetProperty("unchangedFiles").GetInt64()); // rootfs.ext4: the parent took it over from vm, with its source

        // The latest image snapshot of the same paths: the mount's.
        var byPaths = await CairnCli.RunAsync(lab.RepositoryPath, "--json", "snapshot", "--image", Path.Combine(mount.MountPoint, "rootfs.ext4"), Path.Combine(mount.MountPoint, "mem.img"));
        Assert.True(byPaths.ExitCode == 0, byPaths.ToString());
        Assert.Equal(fromMount, ParentOf(byPaths));
    }

    /// <summary>What an image snapshot cannot hold is refused, naming it, with the exit code of a usage error; nothing is saved.</summary>
    [FuseFact]
    public async Task A_directory_symlink_or_fifo_at_the_top_of_the_mount_or_no_image_at_all_is_refused()
    {
        await using var lab = await MountLab.CreateAsync();
        var (_, _, vm, mount) = await MountImagesAsync(lab, OverlayFlavor.Kernel);
        var top = mount.MountPoint;

        Directory.CreateDirectory(Path.Combine(top, "dir"));
        await AssertRefusedAsync($"'{top}/dir' is a directory: a mount of an image snapshot can hold only its images");
        Directory.Delete(Path.Combine(top, "dir"));

        File.CreateSymbolicLink(Path.Combine(top, "link.img"), "rootfs.ext4");
        await AssertRefusedAsync($"'{top}/link.img' is a symbolic link");
        File.Delete(Path.Combine(top, "link.img"));

        Assert.Equal(0, (await ProcessRunner.RunAsync("mkfifo", [Path.Combine(top, "fifo")])).ExitCode);
        await AssertRefusedAsync($"'{top}/fifo' is a FIFO");
        File.Delete(Path.Combine(top, "fifo"));

        File.Delete(Path.Combine(top, "rootfs.ext4"));
        File.Delete(Path.Combine(top, "mem.img"));
        await AssertRefusedAsync($"'{top}' holds no image: every image of snapshot {vm.Id.ToShortString()} was deleted in it");

        Assert.Single(await lab.Repository.ListSnapshotsAsync());

        async Task AssertRefusedAsync(string message)
        {
            var refused = await CairnCli.RunAsync(lab.RepositoryPath, "snapshot", "--from-mount", top);
            Assert.True(refused.ExitCode == 2, refused.ToString());
            Assert.Contains(message, refused.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', refused.Stderr.TrimEnd());
        }
    }

    /// <summary>
    /// An image the mount leaves untouched is still subject to the depth bound: past it, it is read through the merged
    /// view and stored again whole, as `snapshot --image` would store the unchanged image.
    /// </summary>
    [FuseFact]
    public Task An_untouched_image_past_the_bound_is_read_through_the_mount_and_relaid_out() => PastTheBoundAsync(touched: false);

    /// <summary>A changed image is weighed by the frames a child that reads it keeps, as in `snapshot --image`, and relaid out past the bound.</summary>
    [FuseFact]
    public Task A_changed_image_past_the_bound_is_relaid_out() => PastTheBoundAsync(touched: true);

    private static async Task PastTheBoundAsync(bool touched)
    {
        await using var lab = await MountLab.CreateAsync();
        var path = Path.Combine(lab.Root, "mem.img");
        var memory = new DenseImage(path, 64, seed: 21); // two frames of 32 blocks (MountLab.SmallFrames)
        await SnapshotImagesAsync(lab, [path]);
        memory.Randomize(0, 40); // the first frame replaced, 8 of the second's 32 blocks too: a quarter of it left unused
        var vm = await SnapshotImagesAsync(lab, [path]);
        Assert.Null(vm.Stats.Relayout);
        var mount = await lab.MountWritableAsync(vm, OverlayFlavor.Kernel);
        if (touched)
        {
            Write(mount, "mem.img", "NEWDATA"u8, 50 * Block);
        }

        var readsBefore = await WritableMountTests.SettledReadsAsync(mount.Statistics);
        var result = await SnapshotMountAsync(lab, mount);

        Assert.Equal("mem.img", Assert.Single(result.Relayouts).Image);
        Assert.Equal(SnapshotStats.RelayoutBound, result.Snapshot.Stats.Relayout);
        Assert.Equal(0, result.Snapshot.Stats.UnchangedFiles);
        Assert.Equal(64L * Block, result.Snapshot.Stats.BytesRead);
        Assert.Equal(touched ? Block : 0, result.Snapshot.Stats.NewBytes);
        Assert.Equal((touched ? 63L : 64L) * Block, result.Snapshot.Stats.RewrittenBytes);
        Assert.True(touched ? mount.Statistics.Reads == readsBefore : mount.Statistics.Reads > readsBefore, "an untouched image is read through the mount, a changed one from the upper directory");
        await AssertRestoresAsMountedAsync(lab, result.Snapshot, mount, "mem.img");
    }

    /// <summary>`--relayout` of a mount stores every image again, the untouched ones read through the mount, as of named images.</summary>
    [FuseFact]
    public async Task A_relayout_of_the_mount_stores_every_image_again()
    {
        await using var lab = await MountLab.CreateAsync();
        var (rootfs, memory, vm, mount) = await MountImagesAsync(lab, OverlayFlavor.Kernel);
        Write(mount, "mem.img", "NEWDATA"u8, 7 * Block);

        var result = await SnapshotMountAsync(lab, mount, new SnapshotOptions { Relayout = true });

        var stats = result.Snapshot.Stats;
        Assert.Equal(SnapshotStats.RelayoutRequested, stats.Relayout);
        Assert.Equal(vm.Id.ToString(), result.Snapshot.Parent);
        Assert.Equal((rootfs.Blocks + memory.Blocks) * Block, stats.BytesRead);
        Assert.Equal(stats.Bytes - result.UncoveredBytes, stats.NewBytes + stats.RewrittenBytes); // every block holding data, stored again or new
        await AssertRestoresAsMountedAsync(lab, result.Snapshot, mount, "rootfs.ext4", "mem.img");
    }

    /// <summary>
    /// A sparse rootfs (8 MiB, ~1 MiB of data, some blocks allocated zeros) and a memory image (2 MiB), their snapshot
    /// (tag "vm"), and a writable mount of it.
    /// </summary>
    private static async Task<(TestImage Rootfs, TestImage Memory, SnapshotRecord Vm, WritableMount Mount)> MountImagesAsync(MountLab lab, OverlayFlavor flavor)
    {
        var images = Directory.CreateDirectory(Path.Combine(lab.Root, "images")).FullName;
        var rootfs = new TestImage(Path.Combine(images, "rootfs.ext4"), 2048, seed: 1);
        rootfs.Change(256);
        var memory = new TestImage(Path.Combine(images, "mem.img"), 512, seed: 2);
        memory.Change(128);
        var vm = await SnapshotImagesAsync(lab, [rootfs.Path, memory.Path]);
        return (rootfs, memory, vm, await lab.MountWritableAsync(vm, flavor));
    }

    /// <summary>An image snapshot in the lineage of the tag "vm".</summary>
    private static async Task<SnapshotRecord> SnapshotImagesAsync(MountLab lab, string[] paths) =>
        (await new Archiver(lab.Repository, new SnapshotOptions { Parent = SnapshotOptions.AutoParent, Tags = ["vm"] }).SnapshotImagesAsync(paths)).Snapshot;

    private static Task<SnapshotResult> SnapshotMountAsync(MountLab lab, WritableMount mount, SnapshotOptions? options = null) =>
        new Archiver(lab.Repository, options).SnapshotOverlayAsync(new OverlayChanges(mount.Directory.Upper, mount.Flavor, mount.Snapshot, mount.MountPoint));

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> of the image <paramref name="name"/> through the mount.</summary>
    private static void Write(WritableMount mount, string name, ReadOnlySpan<byte> data, long offset)
    {
        using var image = File.OpenHandle(Path.Combine(mount.MountPoint, name), FileMode.Open, FileAccess.Write);
        RandomAccess.Write(image, data, offset);
    }

    /// <summary>Restores <paramref name="snapshot"/> and checks each image byte for byte against the mount, holes where its blocks are zero; returns the target.</summary>
    private static async Task<string> AssertRestoresAsMountedAsync(MountLab lab, SnapshotRecord snapshot, WritableMount mount, params string[] images)
    {
        var restored = Path.Combine(lab.Root, "restored");
        await new Restorer(lab.Repository).RestoreAsync(snapshot, restored);
        foreach (var name in images)
        {
            ImageState.Of(Path.Combine(mount.MountPoint, name)).AssertRestoredAs(Path.Combine(restored, name));
        }

        return restored;
    }

    private static string? ParentOf(CliResult snapshot) => snapshot.Json.TryGetProperty("parent", out var parent) ? parent.GetString() : null;
}
