using System.Runtime.Versioning;
using System.Text;
using Cairn.Manifests;
using Cairn.Native.Linux;
using Cairn.Snapshot;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>
/// A tree that changes between the moment a file is listed and the moment it is read: each name must be stored as
/// it was at some moment, never with another file's data. The change is made by <see cref="Archiver.BeforeRead"/>,
/// the seam between listing and reading, so the outcome does not depend on the scheduler.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ChangingTreeTests
{
    private static readonly DateTime s_replacedAt = new(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);

    [Theory]
    [InlineData(4 << 10, 1)] // read whole by a reader thread
    [InlineData(4 << 20, 1)] // streamed by the packer
    [InlineData(4 << 10, 2)] // the second name too: the file is read through the third
    [InlineData(4 << 10, 4)] // every name: none is the file any more
    public async Task A_hard_linked_file_whose_names_are_replaced_before_it_is_read_is_stored_as_each_name_then_was(int size, int replaced)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("f1", Bytes(size, 0))], links: "ln f1 f2 && ln f1 f3 && ln f1 f4");

        var (result, target) = await SnapshotChangingAsync(workspace, source, "f1", () =>
        {
            for (var i = 1; i <= replaced; i++)
            {
                Replace(source, $"f{i}", Bytes(size + i, i));
            }
        });

        // The replaced names hold their new files (own data, mode and mtime, no link); the others are the file listed,
        // linked to each other only. TreeComparer compares the hardlink groups too.
        TreeComparer.AssertEqual(source, target);
        Assert.Empty(result.Warnings);
        Assert.Equal(replaced == 4 ? 4 : replaced + 1, result.Snapshot.Stats.Files);
    }

    /// <summary>
    /// A file's names may be sent to the readers in another order than their entries: entries are appended a directory
    /// at a time, files are read depth-first. Here d/x is read (the first sent) though z is the first entry.
    /// </summary>
    [Fact]
    public async Task A_hard_linked_file_whose_first_entry_is_replaced_keeps_its_data_under_the_name_it_was_read_through()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("d/a", Text("first read")), ("d/x", Bytes(4096, 0))], links: "ln d/x z");

        // One reader: files are read in the order they are sent (d/a, d/x, z), after the whole tree is listed.
        var (result, target) = await SnapshotChangingAsync(workspace, source, "d/a", () => Replace(source, "z", Bytes(100, 1)), new SnapshotOptions { ReadConcurrency = 1 });

        // d/x always held the file listed. z is not read again (the file was read through d/x): it is taken as listed,
        // a name of that file, as it was until the hook replaced it.
        Assert.Equal(Bytes(4096, 0), File.ReadAllBytes(Path.Combine(target, "d", "x")));
        Assert.Equal(Bytes(4096, 0), File.ReadAllBytes(Path.Combine(target, "z")));
        using var restored = LinuxFile.OpenDirectory(target);
        Assert.Equal(LinuxFile.Stat(restored, "d/x"u8).Inode, LinuxFile.Stat(restored, "z"u8).Inode);
        Assert.Equal(2, result.Snapshot.Stats.Files); // d/a and the linked file

        // The data is stored under the first entry, z, which d/x links to: a hardlink names an earlier entry.
        var manifest = await workspace.Repository.ReadManifestAsync(result.Snapshot);
        var z = manifest.Lookup(0, "z"u8);
        var x = manifest.Lookup(manifest.Lookup(0, "d"u8), "x"u8);
        Assert.Equal(EntryKind.Regular, manifest.Entries[z].Kind);
        Assert.Equal((EntryKind.Hardlink, (uint)z), (manifest.Entries[x].Kind, manifest.Entries[x].First));
    }

    [Fact]
    public async Task A_hard_linked_file_whose_name_read_first_is_replaced_is_read_through_another_and_stored_under_its_first_entry()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("d/x", Bytes(4096, 0))], links: "ln d/x z && ln d/x zz");

        var (_, target) = await SnapshotChangingAsync(workspace, source, "d/x", () => Replace(source, "d/x", Bytes(100, 1)));

        // d/x is its new file; z and zz the file listed, read through z, linked (z's entry comes before d/x's children).
        TreeComparer.AssertEqual(source, target);
    }

    [Theory]
    [MemberData(nameof(ReadPaths.WholeAndStreamed), MemberType = typeof(ReadPaths))]
    public async Task A_file_removed_after_it_was_listed_is_left_out_with_a_warning(int size, bool skipUnreadable)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("kept.txt", Text("kept")), ("gone.bin", Bytes(size, 0))]);

        var (result, target) = await SnapshotChangingAsync(workspace, source, "gone.bin", () => KeepingMTime(source, () => File.Delete(Path.Combine(source, "gone.bin"))), new SnapshotOptions { SkipUnreadable = skipUnreadable });

        Assert.Equal("'gone.bin' was removed after it was listed: not in the snapshot", Assert.Single(result.Warnings));
        Assert.Empty(result.Skipped);
        TreeComparer.AssertEqual(source, target);
        Assert.Equal((1, 4L), (result.Snapshot.Stats.Files, result.Snapshot.Stats.Bytes));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_directory_removed_after_it_was_listed_is_left_out_with_a_warning(bool skipUnreadable)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("a.txt", Text("a")), ("d/f.txt", Text("f")), ("d/e/g.txt", Text("g")), ("z.txt", Text("z"))]);

        // The root's listing opened d; d is removed before d itself is listed (getdents64 then fails with ENOENT).
        var (result, target) = await SnapshotChangingAsync(workspace, source, "d", () => KeepingMTime(source, () => Directory.Delete(Path.Combine(source, "d"), recursive: true)), new SnapshotOptions { SkipUnreadable = skipUnreadable });

        Assert.Equal("'d' was removed after it was listed: not in the snapshot", Assert.Single(result.Warnings));
        Assert.Empty(result.Skipped);
        TreeComparer.AssertEqual(source, target);
        Assert.Equal((2, 1), (result.Snapshot.Stats.Files, result.Snapshot.Stats.Directories));
    }

    [Fact]
    public async Task A_hard_linked_file_whose_first_name_is_removed_before_it_is_read_keeps_its_other_names()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("f1", Bytes(4096, 0))], links: "ln f1 f2 && ln f1 f3");

        var (result, target) = await SnapshotChangingAsync(workspace, source, "f1", () => KeepingMTime(source, () => File.Delete(Path.Combine(source, "f1"))));

        Assert.Equal("'f1' was removed after it was listed: not in the snapshot", Assert.Single(result.Warnings));
        TreeComparer.AssertEqual(source, target); // f2 and f3 linked, with the file's data
    }

    /// <summary>
    /// A reader opening a FIFO without O_NONBLOCK waits for a writer, forever. Opened without blocking, it is seen to
    /// be no longer the file listed, and stored as what it now is.
    /// </summary>
    [Theory]
    [InlineData(4 << 10)] // read whole by a reader thread
    [InlineData(4 << 20)] // streamed by the packer
    public async Task A_file_replaced_by_a_FIFO_before_it_is_read_is_stored_as_the_FIFO_without_waiting_for_a_writer(int size)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("f1", Bytes(size, 0))], links: "ln f1 f2");

        var snapshot = SnapshotChangingAsync(workspace, source, "f1", () => KeepingMTime(source, () => Shell.Run("rm f1 && mkfifo f1", source)));
        try
        {
            var (result, target) = await snapshot.WaitAsync(TimeSpan.FromSeconds(60));

            // f1 is the FIFO, with its own metadata; f2 the file listed, no longer linked to f1.
            Assert.Empty(result.Warnings);
            TreeComparer.AssertEqual(source, target);
            Assert.Equal((1, 1), (result.Snapshot.Stats.Files, result.Snapshot.Stats.Others));
        }
        finally
        {
            // Cleanup only: the outcome is decided above.
            await LetReadersGoAsync(snapshot, source, "f1");
        }
    }

    /// <summary>A directory put at a file's name is left out: its contents were never listed.</summary>
    [Fact]
    public async Task A_file_replaced_by_a_directory_before_it_is_read_is_left_out_with_a_warning()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("f", Bytes(100, 0)), ("g", Bytes(100, 1))]);

        var (result, target) = await SnapshotChangingAsync(workspace, source, "f", () => Shell.Run("rm f && mkdir f && echo never-listed > f/x", source));

        Assert.Equal("'f' was replaced by a directory after it was listed: not in the snapshot", Assert.Single(result.Warnings));
        Assert.Equal(["g"], Directory.EnumerateFileSystemEntries(target).Select(Path.GetFileName));
    }

    /// <summary>Image files are named one by one: a snapshot without one is not what was asked for.</summary>
    [Fact]
    public async Task An_image_removed_after_it_was_listed_fails_the_snapshot()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = Source(workspace, [("a.img", Bytes(8192, 0)), ("b.img", Bytes(8192, 1))]);
        var gone = Path.Combine(source, "b.img");
        var archiver = new Archiver(workspace.Repository)
        {
            BeforeRead = path =>
            {
                if (Encoding.UTF8.GetString(path) == gone)
                {
                    File.Delete(gone);
                }
            },
        };

        var failure = await Assert.ThrowsAsync<CairnException>(() => archiver.SnapshotImagesAsync([Path.Combine(source, "a.img"), gone]));

        Assert.Equal($"'{gone}' was removed after it was listed", failure.Message);
        Assert.Empty(await workspace.Repository.ListSnapshotsAsync());
    }

    /// <summary>
    /// A mount of an image snapshot reads its changed images from the upper directory through the same reader, so as
    /// <c>snapshot --image</c> does: an image replaced there by a FIFO after it was listed fails the snapshot, without
    /// waiting for a writer (an image snapshot holds files only), and so does one removed.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_image_of_a_mounts_upper_directory_replaced_by_a_FIFO_or_removed_after_it_was_listed_fails_the_snapshot(bool fifo)
    {
        await using var workspace = await Workspace.CreateAsync();
        var images = Source(workspace, [("disk.img", Bytes(8192, 0))]);
        var vm = (await new Archiver(workspace.Repository).SnapshotImagesAsync([Path.Combine(images, "disk.img")])).Snapshot;
        var upper = workspace.Dir.CreateSub("upper");
        var changed = Path.Combine(upper, "disk.img");
        File.WriteAllBytes(changed, Bytes(8192, 1)); // copied up and written
        var archiver = new Archiver(workspace.Repository)
        {
            BeforeRead = path =>
            {
                if (Encoding.UTF8.GetString(path) == changed)
                {
                    Shell.Run(fifo ? "rm disk.img && mkfifo disk.img" : "rm disk.img", upper);
                }
            },
        };

        var snapshot = archiver.SnapshotOverlayAsync(new OverlayChanges(upper, OverlayFlavor.Kernel, vm, workspace.Dir.Sub("mnt")));
        try
        {
            var failure = await Assert.ThrowsAsync<CairnException>(() => snapshot.WaitAsync(TimeSpan.FromSeconds(60)));
            Assert.Equal($"'{changed}' was {(fifo ? "replaced by a FIFO" : "removed")} after it was listed", failure.Message);
            Assert.Single(await workspace.Repository.ListSnapshotsAsync());
        }
        finally
        {
            await LetReadersGoAsync(snapshot, upper, "disk.img");
        }
    }

    /// <summary>
    /// Had a reader blocked in open(2) for a writer of the FIFO <paramref name="name"/> in <paramref name="directory"/>
    /// (the hang a test is about), it is let go, as often as it comes back, so that the run ends before the workspace
    /// is removed.
    /// </summary>
    private static async Task LetReadersGoAsync(Task snapshot, string directory, string name)
    {
        using var fd = LinuxFile.OpenDirectory(directory);
        for (var i = 0; i < 600 && !snapshot.IsCompleted; i++)
        {
            if (LinuxFile.TryOpenAt(fd, Encoding.UTF8.GetBytes(name), OpenFlags.WriteOnly | OpenFlags.NonBlock, 0, out var writer) == 0)
            {
                writer!.Dispose();
            }

            await Task.Delay(50);
        }
    }

    /// <summary>The tree <c>src</c> of the workspace: <paramref name="files"/> (with their directories), then the hard links the shell command <paramref name="links"/> makes.</summary>
    private static string Source(Workspace workspace, (string Path, byte[] Content)[] files, string? links = null)
    {
        var source = workspace.Dir.CreateSub("src");
        foreach (var (path, content) in files)
        {
            var full = Path.Combine(source, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, content);
        }

        if (links is not null)
        {
            Shell.Run(links, source);
        }

        return source;
    }

    private static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>
    /// Snapshots <paramref name="source"/>, making <paramref name="change"/> just before the file <paramref name="at"/>
    /// (relative to the source) is first opened to be read, and restores the snapshot into <c>out</c>.
    /// </summary>
    private static async Task<(SnapshotResult Result, string Target)> SnapshotChangingAsync(Workspace workspace, string source, string at, Action change, SnapshotOptions? options = null)
    {
        var archiver = new Archiver(workspace.Repository, options)
        {
            BeforeRead = path =>
            {
                if (Encoding.UTF8.GetString(path) == at)
                {
                    change();
                }
            },
        };
        var result = await archiver.SnapshotAsync(source);
        var target = workspace.Dir.Sub("out");
        await workspace.RestoreAsync(result.Snapshot, target);
        return (result, target);
    }

    /// <summary>Replaces <paramref name="name"/> by a new file (another inode, mode 0600, another mtime), as an editor saving it does.</summary>
    private static void Replace(string root, string name, byte[] content)
    {
        var path = Path.Combine(root, name);
        KeepingMTime(Path.GetDirectoryName(path)!, () =>
        {
            var temporary = path + ".replacement";
            File.WriteAllBytes(temporary, content);
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.SetLastWriteTimeUtc(temporary, s_replacedAt);
            File.Move(temporary, path, overwrite: true);
        });
    }

    /// <summary>Makes a change in <paramref name="directory"/> that leaves its mtime as it was listed, so that trees compare equal but for the change.</summary>
    private static void KeepingMTime(string directory, Action change)
    {
        using var fd = LinuxFile.OpenDirectory(directory);
        var listed = LinuxFile.Stat(fd);
        change();
        LinuxFile.SetTimes(fd, listed.ATimeNs, listed.MTimeNs);
    }

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
