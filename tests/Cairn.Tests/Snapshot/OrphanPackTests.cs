using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>Packs no index object names (an interrupted run's) are reused, then indexed by the next run.</summary>
public sealed class OrphanPackTests
{
    [Fact]
    public async Task The_next_run_reuses_orphan_packs_and_lists_them_in_its_index_object()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "a.bin"), XorShift.Bytes(600_000, seed: 11));
        await workspace.SnapshotAsync(source);

        // Make the packs orphans, as a run killed after its uploads but before its index object leaves them.
        foreach (var index in Directory.GetFiles(Path.Combine(workspace.RepoPath, "index")))
        {
            File.Delete(index);
        }

        var orphaned = await workspace.Repository.LoadIndexAsync();
        Assert.NotEmpty(orphaned.RecoveredPacks);

        File.WriteAllBytes(Path.Combine(source, "b.bin"), XorShift.Bytes(1000, seed: 12));
        var second = await workspace.SnapshotAsync(source);
        Assert.Equal(1000, second.Snapshot.Stats.NewBytes);

        var after = await workspace.Repository.LoadIndexAsync();
        Assert.Empty(after.RecoveredPacks);
        Assert.Equal(orphaned.ChunkCount + 1, after.ChunkCount);
    }
}
