using System.Text;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Linux;
using Cairn.Snapshot;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>
/// A snapshot with a parent restores the new tree exactly, reads only the files that changed (size, mtime, ctime or
/// inode), writes only chunks the repository lacks, and the diff of the two manifests is exactly what was changed.
/// </summary>
public sealed class IncrementalTests
{
    private const uint Mode644 = 0b110_100_100;

    [Fact]
    public async Task A_snapshot_with_a_parent_reads_and_writes_only_what_changed()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Generate(11, TreeShape.Varied);
        var random = new Random(11);
        using var root = LinuxFile.OpenDirectory(source);
        LinuxFile.MakeDirectoryAt(root, "work"u8, 0b111_101_101);
        using var work = LinuxFile.OpenAt(root, "work"u8, OpenFlags.ReadOnly | OpenFlags.Directory);
        string[] names = ["content.bin", "mode.txt", "delete.txt", "rename.txt", "truncate.bin", "touch.txt", "same-size.txt", "untouched.bin"];
        foreach (var name in names)
        {
            NativeFiles.Write(work, Encoding.UTF8.GetBytes(name), Bytes(random, name.EndsWith(".bin", StringComparison.Ordinal) ? 300_000 : 20_000));
        }

        var first = await workspace.SnapshotAsync(source);
        var before = await workspace.Repository.ReadManifestAsync(first.Snapshot);

        // One change of each kind.
        using (var fd = LinuxFile.OpenAt(work, "content.bin"u8, OpenFlags.WriteOnly))
        {
            LinuxFile.WriteAll(fd, Bytes(random, 1000), 150_000);
        }

        using (var fd = LinuxFile.OpenAt(work, "mode.txt"u8, OpenFlags.ReadOnly))
        {
            LinuxFile.ChangeMode(fd, 0b110_000_000);
        }

        LinuxFile.UnlinkAt(work, "delete.txt"u8, isDirectory: false);
        NativeFiles.Write(work, "added.txt"u8, Bytes(random, 50_000));
        LinuxFile.RenameAt(work, "rename.txt"u8, work, "renamed.txt"u8);
        using (var fd = LinuxFile.OpenAt(work, "truncate.bin"u8, OpenFlags.WriteOnly))
        {
            LinuxFile.Truncate(fd, 100_000);
        }

        LinuxFile.SetTimesAt(work, "touch.txt"u8, 1_234_567_890_123_456_789, 1_234_567_890_123_456_789);

        // Same size, same mtime, other bytes: only the ctime tells.
        var sameSize = LinuxFile.Stat(work, "same-size.txt"u8);
        NativeFiles.Write(work, "same-size.txt"u8, Bytes(random, 20_000));
        LinuxFile.SetTimesAt(work, "same-size.txt"u8, sameSize.MTimeNs, sameSize.MTimeNs);

        var second = await workspace.SnapshotAsync(source, new SnapshotOptions { Parent = first.Snapshot.Id.ToString() });
        var after = await workspace.Repository.ReadManifestAsync(second.Snapshot);
        var target = workspace.Dir.Sub("restored");
        await workspace.RestoreAsync(second.Snapshot, target);

        TreeComparer.AssertEqual(source, target);
        Assert.Equal(first.Snapshot.Id.ToString(), second.Snapshot.Parent);

        // Read again: the seven files that changed or are new; every other file is taken from the parent.
        string[] read = ["content.bin", "mode.txt", "added.txt", "renamed.txt", "truncate.bin", "touch.txt", "same-size.txt"];
        var stats = second.Snapshot.Stats;
        Assert.Equal(first.Snapshot.Stats.Files, stats.Files); // one deleted, one added
        Assert.Equal(stats.Files - read.Length, stats.UnchangedFiles);
        Assert.Equal(read.Sum(n => LinuxFile.Stat(work, Encoding.UTF8.GetBytes(n)).Size), stats.BytesRead);

        // Written: exactly the chunks the first snapshot did not have.
        var known = before.Chunks.Select(c => c.Id).ToHashSet();
        var fresh = after.Chunks.Where(c => !known.Contains(c.Id)).ToList();
        Assert.Equal(fresh.Count, stats.NewChunks);
        Assert.Equal(fresh.Sum(c => (long)c.Length), stats.NewBytes);
        Assert.InRange(stats.NewBytes, 1, 500_000);
        Assert.True(ChunkIds(after, "work/touch.txt").All(known.Contains), "a touched file's chunks are not new");
        Assert.True(ChunkIds(after, "work/renamed.txt").All(known.Contains), "a renamed file's chunks are not new");

        // The diff is exactly the changes.
        var changes = ManifestDiff.Compare(before, after).Select(c => $"{c.Kind} {Manifest.Display(c.Path)}").Order(StringComparer.Ordinal);
        Assert.Equal(
            [
                "Added work/added.txt", "Added work/renamed.txt",
                "Modified work", "Modified work/content.bin", "Modified work/mode.txt", "Modified work/same-size.txt", "Modified work/touch.txt", "Modified work/truncate.bin",
                "Removed work/delete.txt", "Removed work/rename.txt",
            ],
            changes);
    }

    [Fact]
    public async Task A_snapshot_of_an_unchanged_tree_reads_nothing_and_writes_no_chunk()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Generate(12, TreeShape.Varied);
        var first = await workspace.SnapshotAsync(source);

        var second = await workspace.SnapshotAsync(source, new SnapshotOptions { Parent = "auto" });

        Assert.Equal(first.Snapshot.Id.ToString(), second.Snapshot.Parent);
        Assert.Equal(first.Snapshot.Tree, second.Snapshot.Tree);
        Assert.Equal(second.Snapshot.Stats.Files, second.Snapshot.Stats.UnchangedFiles);
        Assert.Equal(0, second.Snapshot.Stats.BytesRead);
        Assert.Equal(0, second.Snapshot.Stats.NewChunks);
        Assert.Empty(ManifestDiff.Compare(await workspace.Repository.ReadManifestAsync(first.Snapshot), await workspace.Repository.ReadManifestAsync(second.Snapshot)));
    }

    private static IEnumerable<ContentId> ChunkIds(Manifest manifest, string path) =>
        manifest.ChunkRefsOf(manifest.Resolve(Encoding.UTF8.GetBytes(path))).ToArray().Select(r => manifest.Chunks[r.Chunk].Id);

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
