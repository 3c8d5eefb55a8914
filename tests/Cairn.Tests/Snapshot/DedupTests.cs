using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>Content is stored once, however many files (or snapshots of other paths) hold it.</summary>
public sealed class DedupTests
{
    [Fact]
    public async Task Identical_files_are_stored_once_and_a_copy_of_the_tree_adds_nothing()
    {
        await using var workspace = await Workspace.CreateAsync();
        var content = XorShift.Bytes(1 << 20, seed: 5);
        var other = XorShift.Bytes(300_000, seed: 6);
        var source = workspace.Dir.CreateSub("src");
        foreach (var directory in new[] { "a", "b", "b/c" })
        {
            Directory.CreateDirectory(Path.Combine(source, directory));
            File.WriteAllBytes(Path.Combine(source, directory, "same.bin"), content);
            File.WriteAllBytes(Path.Combine(source, directory, "copy-" + directory.Replace('/', '-')), content);
        }

        File.WriteAllBytes(Path.Combine(source, "other.bin"), other);

        var first = await workspace.SnapshotAsync(source);
        var manifest = await workspace.Repository.ReadManifestAsync(first.Snapshot);
        var copy = workspace.Dir.Sub("copy");
        Shell.Run($"cp -a '{source}' '{copy}'", workspace.Dir.Path);
        var second = await workspace.SnapshotAsync(copy);

        Assert.Equal((6 << 20) + 300_000, first.Snapshot.Stats.Bytes);
        Assert.Equal((1 << 20) + 300_000, first.Snapshot.Stats.NewBytes);
        Assert.Equal(first.Snapshot.Stats.NewChunks, manifest.Chunks.Length);
        Assert.Equal(manifest.Chunks.Length, manifest.Chunks.Select(c => c.Id).Distinct().Count());
        Assert.InRange(PackBytes(workspace.RepoPath), (1 << 20) + 300_000, (1 << 20) + 400_000);
        Assert.Equal(first.Snapshot.Tree, second.Snapshot.Tree);
        Assert.Equal(0, second.Snapshot.Stats.NewBytes);
        Assert.Equal(0, second.Snapshot.Stats.NewChunks);
    }

    private static long PackBytes(string repo) =>
        new DirectoryInfo(Path.Combine(repo, "packs")).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
}
