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
    /// The snapshot mount's read count once it has stopped moving. A read is counted when it is answered, and reads
    /// the kernel queued during the changes (read-ahead while fuse-overlayfs copies a file up) can still be answered
    /// after the changes returned: on a loaded machine, that made two reads land inside the snapshot's window.
    /// </summary>
    private static async Task<long> SettledReadsAsync(MountStatistics statistics)
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
