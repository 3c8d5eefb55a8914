using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;
using Cairn.Snapshot;
using Cairn.Tests.Format;
using Cairn.Tests.Support;

namespace Cairn.Tests.Restore;

/// <summary>
/// Someone who can write to the repository swaps in a manifest of their own. Restore must refuse what does not
/// belong to the snapshot, and whatever it restores stays inside the target.
/// </summary>
public sealed class HostileRepositoryTests
{
    [Fact]
    public async Task A_manifest_replaced_by_an_invalid_one_is_refused_and_nothing_is_written()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotAsync(workspace);
        var canary = RestoreSafetyTests.CreateCanary(workspace);
        var hostile = SampleManifest.Parts();
        hostile.Rename(1, [.. "../canary/evil"u8]);
        var key = ObjectKeys.Manifest(snapshot.TreeHash);
        File.WriteAllBytes(Path.Combine(workspace.RepoPath, key), ManifestCodec.Encode(hostile.ToManifest()));

        var e = await Assert.ThrowsAsync<CorruptDataException>(() => workspace.RestoreAsync(snapshot, workspace.Dir.Sub("out")));

        Assert.Equal($"{key} is invalid: entry 1 has an invalid name '../canary/evil' (empty, '.', '..', or containing '/' or NUL)", e.Message);
        canary.AssertUntouched();
        Assert.Equal(["canary", "canary-reference", "repo", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task A_manifest_replaced_by_a_valid_one_of_another_tree_is_refused()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotAsync(workspace);
        var key = ObjectKeys.Manifest(snapshot.TreeHash);
        File.WriteAllBytes(Path.Combine(workspace.RepoPath, key), ManifestCodec.Encode(SampleManifest.Build()));

        var e = await Assert.ThrowsAsync<CorruptDataException>(() => workspace.RestoreAsync(snapshot, workspace.Dir.Sub("out")));

        Assert.Equal($"{key} does not hold the tree of snapshot {snapshot.Id.ToShortString()} (tree hash mismatch)", e.Message);
        Assert.Equal(["repo", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task A_forged_snapshot_of_links_pointing_outside_restores_the_links_without_following_them()
    {
        await using var workspace = await Workspace.CreateAsync();
        var canary = RestoreSafetyTests.CreateCanary(workspace);

        // A valid manifest and a record naming it: symlinks to the canary, a hardlink and a FIFO next to them.
        var forged = SampleManifest.Parts();
        forged.Entries[4].First = forged.Add("../canary");
        forged.Entries[4].Size = "../canary".Length;
        forged.Entries[1].Count = 0;
        forged.Entries[1].Size = 0;
        forged.Entries[1].XattrCount = 0;
        forged.Entries[1].Traits = EntryTraits.None;
        forged.ChunkRefs = [];
        forged.Chunks = [];
        forged.Locations = [];
        var manifest = forged.ToManifest();
        var bytes = ManifestCodec.Encode(manifest);
        await workspace.Repository.Store.PutAsync(ObjectKeys.Manifest(manifest.TreeHash), bytes);
        var record = new SnapshotRecord { Tree = manifest.TreeHash.ToString(), Time = DateTimeOffset.UnixEpoch };
        var recordBytes = record.Serialize();
        await workspace.Repository.Store.PutAsync(ObjectKeys.Snapshot(record.Id), recordBytes);
        var target = workspace.Dir.Sub("out");

        await workspace.RestoreAsync(await workspace.Repository.ResolveAsync(record.Id.ToString()), target);

        Assert.Equal("../canary", new FileInfo(Path.Combine(target, "l")).LinkTarget);
        Assert.Equal(0, new FileInfo(Path.Combine(target, "a")).Length);
        canary.AssertUntouched();
        Assert.Equal(["canary", "canary-reference", "out", "repo"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task A_forged_parent_that_misplaces_a_chunk_is_not_trusted_for_the_chunks_a_snapshot_reads()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        var content = "fifty bytes of content that the forged parent lies"u8.ToArray();
        File.WriteAllBytes(Path.Combine(source, "a"), content);

        // A parent whose manifest names that content's chunk with another length, in a frame of a pack that does not exist.
        var forged = SampleManifest.Parts();
        forged.Chunks[0].Id = ContentId.Hash(content);
        var manifest = forged.ToManifest();
        var manifestBytes = ManifestCodec.Encode(manifest); // gives the manifest its tree hash
        await workspace.Repository.Store.PutAsync(ObjectKeys.Manifest(manifest.TreeHash), manifestBytes);
        var parent = new SnapshotRecord { Tree = manifest.TreeHash.ToString(), Time = DateTimeOffset.UnixEpoch };
        var parentBytes = parent.Serialize(); // gives the record its id
        await workspace.Repository.Store.PutAsync(ObjectKeys.Snapshot(parent.Id), parentBytes);

        var snapshot = (await workspace.SnapshotAsync(source, new SnapshotOptions { Parent = parent.Id.ToString() })).Snapshot;

        Assert.Equal(parent.Id.ToString(), snapshot.Parent);
        Assert.Equal(content.Length, snapshot.Stats.NewBytes);
        var target = workspace.Dir.Sub("out");
        await workspace.RestoreAsync(snapshot, target);
        Assert.Equal(content, File.ReadAllBytes(Path.Combine(target, "a")));
    }

    private static async Task<SnapshotRecord> SnapshotAsync(Workspace workspace)
    {
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllText(Path.Combine(source, "f"), "content");
        return (await workspace.SnapshotAsync(source)).Snapshot;
    }
}
