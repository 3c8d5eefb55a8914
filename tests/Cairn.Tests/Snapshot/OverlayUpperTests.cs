using Cairn.Native.Linux;
using Cairn.Snapshot;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>
/// Upper directories written by hand with every mark either overlay writes or reads (found by experiment on kernel 6.18
/// and fuse-overlayfs 1.10), snapshotted with <see cref="Archiver.SnapshotOverlayAsync"/> under each flavor's rules:
/// only the overlay's own xattrs are marks, everything else is data. The same through real overlays is in
/// Mount/WritableMountTests.
/// </summary>
public sealed class OverlayUpperTests
{
    private const string TrustedXattrs = "it sets trusted.* xattrs";

    /// <summary>The xattrs of a base file the upper directory does not touch: the base's data, kept as they are under either flavor.</summary>
    private const string BaseMarks = "trusted.overlay.overlay.kept=k; user.overlay.origin=base";

    [RootFact(TrustedXattrs)]
    public async Task Kernel_overlayfs_marks_are_trusted_overlay_only_and_a_users_escaped_trusted_overlay_xattr_is_data()
    {
        await using var workspace = await Workspace.CreateAsync();
        var restored = await SnapshotMarkedUpperAsync(workspace, OverlayFlavor.Kernel);

        Assert.Equal(["upper.txt"], Names(restored, "opaque-trusted"));
        Assert.Equal("", NativeFiles.XattrText(Path.Combine(restored, "opaque-trusted")));
        foreach (var (directory, mark) in new[] { ("opaque-user", "user.overlay.opaque=y"), ("opaque-fuse", "user.fuseoverlayfs.opaque=y"), ("opaque-no", "user.overlay.opaque=y") })
        {
            Assert.Equal(["lower.txt", "upper.txt"], Names(restored, directory));
            Assert.Equal(mark, NativeFiles.XattrText(Path.Combine(restored, directory)));
        }

        Assert.False(File.Exists(Path.Combine(restored, "gone.txt")));
        Assert.Equal("trusted.overlay.note=n; user.fuseoverlayfs.note=f; user.overlay.note=u", NativeFiles.XattrText(Path.Combine(restored, "new.txt")));
        Assert.Equal(BaseMarks, NativeFiles.XattrText(Path.Combine(restored, "marks.txt")));
    }

    [RootFact(TrustedXattrs)]
    public async Task Fuse_overlayfs_marks_are_its_three_namespaces_and_none_of_them_is_data()
    {
        await using var workspace = await Workspace.CreateAsync();
        var restored = await SnapshotMarkedUpperAsync(workspace, OverlayFlavor.FuseOverlayfs);

        foreach (var directory in new[] { "opaque-trusted", "opaque-user", "opaque-fuse" })
        {
            Assert.Equal(["upper.txt"], Names(restored, directory));
            Assert.Equal("", NativeFiles.XattrText(Path.Combine(restored, directory)));
        }

        // The first of its opaque marks a directory has decides: trusted.overlay.opaque=n, whatever user.overlay.opaque says.
        Assert.Equal(["lower.txt", "upper.txt"], Names(restored, "opaque-no"));

        // It knows no xattr whiteouts: the file is a file of its merged view.
        Assert.Equal(0, new FileInfo(Path.Combine(restored, "gone.txt")).Length);
        Assert.Equal("", NativeFiles.XattrText(Path.Combine(restored, "gone.txt")));
        Assert.Equal("", NativeFiles.XattrText(Path.Combine(restored, "new.txt")));
        Assert.Equal(BaseMarks, NativeFiles.XattrText(Path.Combine(restored, "marks.txt")));
    }

    /// <summary>
    /// An opaque mark on the upper root: fuse-overlayfs hides the whole lower layer, kernel overlayfs ignores it (its
    /// snapshot dropped the base entirely).
    /// </summary>
    [RootFact(TrustedXattrs)]
    public async Task An_opaque_upper_root_hides_the_base_under_fuse_overlayfs_only()
    {
        foreach (var (flavor, names) in new[] { (OverlayFlavor.Kernel, new[] { "lower.txt", "upper.txt" }), (OverlayFlavor.FuseOverlayfs, ["upper.txt"]) })
        {
            await using var workspace = await Workspace.CreateAsync();
            var lower = workspace.Dir.CreateSub("lower");
            await File.WriteAllTextAsync(Path.Combine(lower, "lower.txt"), "lower\n");
            var upper = workspace.Dir.CreateSub("upper");
            await File.WriteAllTextAsync(Path.Combine(upper, "upper.txt"), "upper\n");
            using (var root = LinuxFile.OpenDirectory(upper))
            {
                LinuxFile.SetXattr(root, "trusted.overlay.opaque"u8, "y"u8);
            }

            var restored = await SnapshotUpperAsync(workspace, lower, upper, flavor);
            Assert.Equal(names, Names(restored, ""));
        }
    }

    /// <summary>
    /// A file of the upper directory replaced by a FIFO after it was listed is stored as the FIFO it then is, with its
    /// xattrs as the overlay's merged view has them, as a FIFO listed there would be: the overlay's marks left out,
    /// escaped names unescaped.
    /// </summary>
    [RootFact(TrustedXattrs)]
    public async Task An_upper_file_replaced_by_a_FIFO_before_it_is_read_has_the_xattrs_the_overlay_shows()
    {
        await using var workspace = await Workspace.CreateAsync();
        var lower = workspace.Dir.CreateSub("lower");
        await File.WriteAllTextAsync(Path.Combine(lower, "f"), "lower\n");
        var upper = workspace.Dir.CreateSub("upper");
        await File.WriteAllTextAsync(Path.Combine(upper, "f"), "upper\n");
        var baseSnapshot = (await workspace.SnapshotAsync(lower)).Snapshot;
        var archiver = new Archiver(workspace.Repository)
        {
            BeforeRead = path =>
            {
                if (path.AsSpan().SequenceEqual("f"u8))
                {
                    Shell.Run("rm f && mkfifo f", upper);
                    using var fd = LinuxFile.OpenDirectory(upper);
                    LinuxFile.SetXattrAt(fd, "f"u8, "trusted.overlay.origin"u8, "o"u8);
                    LinuxFile.SetXattrAt(fd, "f"u8, "trusted.overlay.overlay.note"u8, "n"u8);
                }
            },
        };

        var result = await archiver.SnapshotOverlayAsync(new OverlayChanges(upper, OverlayFlavor.Kernel, baseSnapshot, upper)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Empty(result.Warnings);
        var restored = workspace.Dir.Sub("restored");
        await workspace.RestoreAsync(result.Snapshot, restored);
        using (var directory = LinuxFile.OpenDirectory(restored))
        {
            Assert.Equal(FileKind.Fifo, LinuxFile.Stat(directory, "f"u8).Kind);
        }

        Assert.Equal("trusted.overlay.note=n", NativeFiles.XattrText(Path.Combine(restored, "f")));
    }

    /// <summary>
    /// A base tree, and an upper directory over it that holds: directories marked opaque in each namespace
    /// (<c>opaque-no</c>: <c>trusted.overlay.opaque=n</c>, then <c>user.overlay.opaque=y</c>), each with a new file
    /// <c>upper.txt</c> over the base's <c>lower.txt</c>; an xattr whiteout of <c>gone.txt</c>; a new file with an xattr
    /// in each namespace (and an escaped one). Snapshotted under <paramref name="flavor"/>'s rules and restored.
    /// </summary>
    private static async Task<string> SnapshotMarkedUpperAsync(Workspace workspace, OverlayFlavor flavor)
    {
        string[] opaque = ["opaque-trusted", "opaque-user", "opaque-fuse", "opaque-no"];
        var lower = workspace.Dir.CreateSub("lower");
        foreach (var directory in opaque)
        {
            await File.WriteAllTextAsync(Path.Combine(workspace.Dir.CreateSub(Path.Combine("lower", directory)), "lower.txt"), "lower\n");
        }

        await File.WriteAllTextAsync(Path.Combine(lower, "gone.txt"), "deleted through the overlay\n");
        await File.WriteAllTextAsync(Path.Combine(lower, "marks.txt"), "untouched\n");
        using (var fd = LinuxFile.OpenDirectory(lower))
        {
            LinuxFile.SetXattrAt(fd, "marks.txt"u8, "user.overlay.origin"u8, "base"u8);
            LinuxFile.SetXattrAt(fd, "marks.txt"u8, "trusted.overlay.overlay.kept"u8, "k"u8);
        }

        var upper = workspace.Dir.CreateSub("upper");
        foreach (var directory in opaque)
        {
            await File.WriteAllTextAsync(Path.Combine(workspace.Dir.CreateSub(Path.Combine("upper", directory)), "upper.txt"), "upper\n");
        }

        using (var fd = LinuxFile.OpenDirectory(upper))
        {
            LinuxFile.SetXattrAt(fd, "opaque-trusted"u8, "trusted.overlay.opaque"u8, "y"u8);
            LinuxFile.SetXattrAt(fd, "opaque-user"u8, "user.overlay.opaque"u8, "y"u8);
            LinuxFile.SetXattrAt(fd, "opaque-fuse"u8, "user.fuseoverlayfs.opaque"u8, "y"u8);
            LinuxFile.SetXattrAt(fd, "opaque-no"u8, "trusted.overlay.opaque"u8, "n"u8);
            LinuxFile.SetXattrAt(fd, "opaque-no"u8, "user.overlay.opaque"u8, "y"u8);
            NativeFiles.Write(fd, "gone.txt"u8, []);
            LinuxFile.SetXattrAt(fd, "gone.txt"u8, "trusted.overlay.whiteout"u8, "y"u8);
            NativeFiles.Write(fd, "new.txt"u8, "new\n"u8);
            LinuxFile.SetXattrAt(fd, "new.txt"u8, "trusted.overlay.origin"u8, "o"u8);
            LinuxFile.SetXattrAt(fd, "new.txt"u8, "trusted.overlay.overlay.note"u8, "n"u8);
            LinuxFile.SetXattrAt(fd, "new.txt"u8, "user.overlay.note"u8, "u"u8);
            LinuxFile.SetXattrAt(fd, "new.txt"u8, "user.fuseoverlayfs.note"u8, "f"u8);
        }

        return await SnapshotUpperAsync(workspace, lower, upper, flavor);
    }

    /// <summary>Snapshots <paramref name="lower"/>, then <paramref name="upper"/> over it as an overlay's changes; returns where the latter was restored.</summary>
    private static async Task<string> SnapshotUpperAsync(Workspace workspace, string lower, string upper, OverlayFlavor flavor)
    {
        var baseSnapshot = (await workspace.SnapshotAsync(lower)).Snapshot;
        var result = await new Archiver(workspace.Repository).SnapshotOverlayAsync(new OverlayChanges(upper, flavor, baseSnapshot, upper));
        Assert.Empty(result.Warnings);
        var restored = workspace.Dir.Sub("restored");
        await workspace.RestoreAsync(result.Snapshot, restored);
        return restored;
    }

    private static string[] Names(string root, string directory) =>
        [.. Directory.EnumerateFileSystemEntries(Path.Combine(root, directory)).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
}
