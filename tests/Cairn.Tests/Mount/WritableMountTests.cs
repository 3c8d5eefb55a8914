using System.Runtime.Versioning;
using Cairn.Mount;
using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Restore;
using Cairn.Snapshot;
using Cairn.Tests.Fuse;
using Cairn.Tests.Support;

namespace Cairn.Tests.Mount;

/// <summary>
/// Writable mounts with a real overlay (kernel overlayfs, fuse-overlayfs) on a real snapshot mount: changes of every
/// kind, <see cref="Archiver.SnapshotOverlayAsync"/> from the upper directory, and restores compared with the
/// overlay's merged view.
/// </summary>
[Collection(FuseMountsDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed class WritableMountTests
{
    [FuseFact]
    public Task A_snapshot_of_a_kernel_overlay_restores_to_its_merged_view() => SnapshotRestoresToMergedViewAsync(OverlayFlavor.Kernel);

    [FuseFact("fuse-overlayfs")]
    public Task A_snapshot_of_a_fuse_overlayfs_overlay_restores_to_its_merged_view() => SnapshotRestoresToMergedViewAsync(OverlayFlavor.FuseOverlayfs);

    private static async Task SnapshotRestoresToMergedViewAsync(OverlayFlavor flavor)
    {
        await using var lab = await MountLab.CreateAsync();
        var baseSnapshot = await lab.SnapshotAsync();
        var mount = await lab.MountWritableAsync(baseSnapshot, flavor);
        var changed = await ChangeEverythingAsync(mount.MountPoint, flavor);

        var readsBefore = await SettledReadsAsync(mount.Statistics);
        var result = await new Archiver(lab.Repository).SnapshotOverlayAsync(new OverlayChanges(mount.Directory.Upper, flavor, baseSnapshot, mount.MountPoint));
        var snapshot = result.Snapshot;

        // Nothing was read through the snapshot's mount: untouched files were taken from the base manifest.
        Assert.Equal(readsBefore, mount.Statistics.Reads);
        Assert.Equal(baseSnapshot.Id.ToString(), snapshot.Parent);
        Assert.Equal(changed, snapshot.Stats.Files - snapshot.Stats.UnchangedFiles);
        Assert.Empty(result.Warnings);

        var restored = Path.Combine(lab.Root, "restored");
        await new Restorer(lab.Repository).RestoreAsync(snapshot, restored);
        var merged = mount;
        if (flavor == OverlayFlavor.FuseOverlayfs)
        {
            // fuse-overlayfs's merged view can show directory and file mtimes its upper directory does not have (it
            // does not restore a parent's mtime after a copy-up, and the kernel keeps its own mtimes of written
            // files) until it is mounted again: compare with a fresh mount of the same changes.
            await mount.DisposeAsync();
            merged = await lab.MountWritableAsync(baseSnapshot, flavor, mount.Directory.Path);
        }

        // Kernel overlayfs answers SEEK_DATA/SEEK_HOLE from the snapshot's mount (files not copied up) or the upper
        // directory, as the snapshot does. fuse-overlayfs (1.10) reports every file as data throughout, whatever its layers.
        Support.TreeComparer.AssertEqual(merged.MountPoint, restored, holes: flavor == OverlayFlavor.Kernel);
        await merged.DisposeAsync();

        // Complete on its own: with every mount gone and the upper directory deleted, it restores the same.
        await mount.DisposeAsync();
        Assert.Null(MountTable.Find(merged.MountPoint));
        Assert.Null(MountTable.Find(mount.Directory.Lower));
        MountLab.RemoveTree(mount.Directory.Path);
        var again = Path.Combine(lab.Root, "restored-again");
        await new Restorer(lab.Repository).RestoreAsync(await lab.Repository.ResolveAsync(snapshot.Id.ToString()), again);
        Support.TreeComparer.AssertEqual(restored, again);
    }

    /// <summary>
    /// A tree holding overlay xattrs as data, as rootless podman's storage does (<c>user.overlay.*</c>), under a root
    /// marked <c>trusted.overlay.opaque</c> (a snapshot of a kernel overlay's upper directory). Kernel overlayfs keeps
    /// only <c>trusted.overlay.*</c> for itself and shows everything else, so its snapshot is what it shows. The
    /// snapshot used to drop the base's children of the copied-up directory and every <c>user.overlay.*</c> xattr.
    /// </summary>
    [FuseFact]
    public async Task Overlay_xattrs_that_are_data_stay_in_a_kernel_overlays_snapshot_which_is_what_it_shows()
    {
        await using var lab = await MountLab.CreateAsync();
        AddOverlayXattrs(lab.Source);
        var baseSnapshot = await lab.SnapshotAsync();
        var mount = await lab.MountWritableAsync(baseSnapshot, OverlayFlavor.Kernel);
        var storage = Path.Combine(mount.MountPoint, "storage");
        await ChangeStorageAsync(storage);
        using (var through = LinuxFile.OpenDirectory(storage))
        {
            LinuxFile.SetXattrAt(through, "e"u8, "user.overlay.opaque"u8, "y"u8);     // a user's: e keeps its lower child
            LinuxFile.SetXattrAt(through, "e"u8, "trusted.overlay.note"u8, "mine"u8); // the kernel stores it as trusted.overlay.overlay.note
        }

        var snapshot = (await new Archiver(lab.Repository).SnapshotOverlayAsync(new OverlayChanges(mount.Directory.Upper, OverlayFlavor.Kernel, baseSnapshot, mount.MountPoint))).Snapshot;
        var restored = Path.Combine(lab.Root, "restored");
        await new Restorer(lab.Repository).RestoreAsync(snapshot, restored);

        Support.TreeComparer.AssertEqual(mount.MountPoint, restored, holes: false);
        Assert.Equal(["a", "b", "c"], Directory.GetFiles(Path.Combine(restored, "storage", "d")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["keep"], Directory.GetFiles(Path.Combine(restored, "storage", "e")).Select(Path.GetFileName));
        Assert.Equal("user.overlay.opaque=y", NativeFiles.XattrText(Path.Combine(restored, "storage", "d")));
        Assert.Equal("user.overlay.origin=a", NativeFiles.XattrText(Path.Combine(restored, "storage", "d", "a")));
        Assert.Equal("user.overlay.origin=b", NativeFiles.XattrText(Path.Combine(restored, "storage", "d", "b")));
        Assert.Equal("trusted.overlay.note=mine; user.overlay.opaque=y", NativeFiles.XattrText(Path.Combine(restored, "storage", "e")));
        Assert.Contains("trusted.overlay.opaque=y", NativeFiles.XattrText(restored), StringComparison.Ordinal);
    }

    /// <summary>
    /// The same tree under fuse-overlayfs, which keeps <c>trusted.overlay.*</c>, <c>user.overlay.*</c> and
    /// <c>user.fuseoverlayfs.*</c> for itself: it hides them and drops them on a copy-up, so the directory and the file it
    /// copied up lose theirs, as it shows; the untouched file keeps the base's. The root's opaque mark, copied into the
    /// upper root as it was, hid the whole snapshot.
    /// </summary>
    [FuseFact("fuse-overlayfs")]
    public async Task Overlay_xattrs_of_the_snapshot_neither_hide_it_nor_are_lost_where_untouched_under_fuse_overlayfs()
    {
        await using var lab = await MountLab.CreateAsync();
        AddOverlayXattrs(lab.Source);
        var baseSnapshot = await lab.SnapshotAsync();
        var mount = await lab.MountWritableAsync(baseSnapshot, OverlayFlavor.FuseOverlayfs);
        Assert.Contains("small.txt", Directory.GetFiles(mount.MountPoint).Select(Path.GetFileName));
        await ChangeStorageAsync(Path.Combine(mount.MountPoint, "storage"));

        var snapshot = (await new Archiver(lab.Repository).SnapshotOverlayAsync(new OverlayChanges(mount.Directory.Upper, OverlayFlavor.FuseOverlayfs, baseSnapshot, mount.MountPoint))).Snapshot;
        var restored = Path.Combine(lab.Root, "restored");
        await new Restorer(lab.Repository).RestoreAsync(snapshot, restored);

        Assert.Contains("small.txt", Directory.GetFiles(restored).Select(Path.GetFileName));
        Assert.Equal(["a", "b", "c"], Directory.GetFiles(Path.Combine(restored, "storage", "d")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("a\na2\n", await File.ReadAllTextAsync(Path.Combine(restored, "storage", "d", "a")));
        Assert.Equal("", NativeFiles.XattrText(Path.Combine(restored, "storage", "d")));
        Assert.Equal("", NativeFiles.XattrText(Path.Combine(restored, "storage", "d", "a")));
        Assert.Equal("user.overlay.origin=b", NativeFiles.XattrText(Path.Combine(restored, "storage", "d", "b")));
    }

    /// <summary>
    /// Changes kept by one overlay are refused to the other: kernel overlayfs keeps a user's <c>user.overlay.opaque</c>
    /// as data, which fuse-overlayfs would take for its mark, and fuse-overlayfs's <c>.wh..wh..opq</c> files would be
    /// files to the kernel.
    /// </summary>
    [FuseFact("fuse-overlayfs")]
    public async Task Changes_kept_by_one_overlay_are_not_mounted_with_the_other()
    {
        await using var lab = await MountLab.CreateAsync();
        var baseSnapshot = await lab.SnapshotAsync();
        var layers = lab.NewLayersDirectory();
        await using (var kernel = await lab.MountWritableAsync(baseSnapshot, OverlayFlavor.Kernel, layers))
        {
            await File.WriteAllTextAsync(Path.Combine(kernel.MountPoint, "kept.txt"), "kept\n");
        }

        var refused = await Assert.ThrowsAsync<UsageException>(() => lab.MountWritableAsync(baseSnapshot, OverlayFlavor.FuseOverlayfs, layers));
        Assert.Contains("holds changes written by kernel: mount it with --overlay kernel", refused.Message, StringComparison.Ordinal);
        await using var again = await lab.MountWritableAsync(baseSnapshot, OverlayFlavor.Kernel, layers);
        Assert.Equal("kept\n", await File.ReadAllTextAsync(Path.Combine(again.MountPoint, "kept.txt")));
    }

    /// <summary>
    /// fuse-overlayfs splits its layer paths at every ':', escaped or not: such a directory is refused before anything
    /// is mounted, with a usage error (fuse-overlayfs failed with "cannot read lower dirs").
    /// </summary>
    [FuseFact("fuse-overlayfs")]
    public async Task Fuse_overlayfs_layers_in_a_path_with_a_colon_are_refused()
    {
        await using var lab = await MountLab.CreateAsync();
        var baseSnapshot = await lab.SnapshotAsync();
        var layers = lab.NewLayersDirectory("ov:a");
        var refused = await Assert.ThrowsAsync<UsageException>(() => lab.MountWritableAsync(baseSnapshot, OverlayFlavor.FuseOverlayfs, layers));
        Assert.Contains("it splits layer paths at ':'", refused.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(layers));
    }

    /// <summary>
    /// <c>storage/d</c> marked <c>user.overlay.opaque</c>, holding <c>a</c> and <c>b</c> marked <c>user.overlay.origin</c>;
    /// <c>storage/e</c> holding <c>keep</c>; the root marked <c>trusted.overlay.opaque</c> (as root).
    /// </summary>
    private static void AddOverlayXattrs(string source)
    {
        var d = Directory.CreateDirectory(Path.Combine(source, "storage", "d")).FullName;
        File.WriteAllText(Path.Combine(d, "a"), "a\n");
        File.WriteAllText(Path.Combine(d, "b"), "b\n");
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(source, "storage", "e")).FullName, "keep"), "kept\n");
        using (var files = LinuxFile.OpenDirectory(d))
        {
            LinuxFile.SetXattrAt(files, "a"u8, "user.overlay.origin"u8, "a"u8);
            LinuxFile.SetXattrAt(files, "b"u8, "user.overlay.origin"u8, "b"u8);
        }

        using (var storage = LinuxFile.OpenDirectory(Path.Combine(source, "storage")))
        {
            LinuxFile.SetXattrAt(storage, "d"u8, "user.overlay.opaque"u8, "y"u8);
        }

        using var root = LinuxFile.OpenDirectory(source);
        LinuxFile.SetXattr(root, "trusted.overlay.opaque"u8, "y"u8);
    }

    /// <summary>A new file in <c>d</c> (which copies <c>d</c> up) and <c>a</c> changed (copied up); <c>b</c> stays in the snapshot.</summary>
    private static async Task ChangeStorageAsync(string storage)
    {
        await File.WriteAllTextAsync(Path.Combine(storage, "d", "c"), "c\n");
        await File.AppendAllTextAsync(Path.Combine(storage, "d", "a"), "a2\n");
    }

    /// <summary>
    /// The snapshot mount's read count once it has stopped moving. A read is counted when it is answered, and reads
    /// the kernel queued during the changes (read-ahead while fuse-overlayfs copies a file up) can still be answered
    /// after the changes returned: on a loaded machine, that made two reads land inside the snapshot's window.
    /// </summary>
    internal static async Task<long> SettledReadsAsync(MountStatistics statistics)
    {
        var last = statistics.Reads;
        for (int quiet = 0, polls = 0; quiet < 4 && polls < 100; polls++)
        {
            await Task.Delay(50);
            var now = statistics.Reads;
            quiet = now == last ? quiet + 1 : 0;
            last = now;
        }

        return last;
    }

    /// <summary>
    /// Every kind of change through the overlay; returns how many regular files the upper directory ends up holding
    /// (changed, copied up or new), which are the only files the snapshot may read.
    /// </summary>
    private static async Task<int> ChangeEverythingAsync(string root, OverlayFlavor flavor)
    {
        await File.AppendAllTextAsync(Path.Combine(root, "small.txt"), "appended\n");                     // content (keeps owner and xattrs)
        using (var big = File.OpenHandle(Path.Combine(root, "big.bin"), FileMode.Open, FileAccess.Write))
        {
            RandomAccess.Write(big, "patched"u8, 700_000);                                                    // a few bytes of a big file
        }

        File.Delete(Path.Combine(root, "other.bin"));                                                        // a deleted file
        Directory.Delete(Path.Combine(root, "many"), recursive: true);                                        // a deleted directory, recreated: opaque
        Directory.CreateDirectory(Path.Combine(root, "many"));
        await File.WriteAllTextAsync(Path.Combine(root, "many", "file-007.txt"), "the only one left\n");
        var moved = await ProcessRunner.RunAsync("mv", [Path.Combine(root, "tmp"), Path.Combine(root, "tmp-moved")]); // a renamed directory
        Assert.True(moved.ExitCode == 0, moved.Error);
        File.SetUnixFileMode(Path.Combine(root, "script.sh"), UnixFileMode.UserRead | UnixFileMode.UserExecute); // chmod only
        File.Delete(Path.Combine(root, "dangling"));                                                         // a symlink pointed elsewhere
        File.CreateSymbolicLink(Path.Combine(root, "dangling"), "small.txt");
        using (var rootFd = LinuxFile.OpenDirectory(root))
        {
            LinuxFile.SetXattrAt(rootFd, "secret"u8, "user.note"u8, "added"u8);                              // an xattr only
        }

        Directory.CreateDirectory(Path.Combine(root, "new", "nested"));                                      // a new hardlink pair
        await File.WriteAllTextAsync(Path.Combine(root, "new", "nested", "a"), "linked\n");
        using (var nested = LinuxFile.OpenDirectory(Path.Combine(root, "new", "nested")))
        using (var created = LinuxFile.OpenDirectory(Path.Combine(root, "new")))
        {
            LinuxFile.LinkAt(nested, "a"u8, created, "b"u8);
        }

        await File.WriteAllTextAsync(Path.Combine(root, "dir", "sub", "deeper", "deep.txt"), "deep, changed\n"); // deep in untouched directories
        var files = 7; // small.txt, big.bin, many/file-007.txt, script.sh, secret, new/nested/a, dir/sub/deeper/deep.txt

        // Kernel overlayfs breaks a lower hardlink pair on copy-up: hard1 changes, dir/hard2 keeps the old content
        // (stored whole, as its first name now differs). fuse-overlayfs shows both names changed while mounted but
        // records only one in the upper directory, so the pair is left alone there (docs/mount.md).
        if (flavor == OverlayFlavor.Kernel)
        {
            await File.AppendAllTextAsync(Path.Combine(root, "hard1"), "one side\n");
            files++;
        }

        return files;
    }
}
