using Cairn.Repository;
using Cairn.Snapshot;
using Cairn.Storage;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>
/// A snapshot exists once its record is written, and the record is written last: after the packs, the index object and
/// the manifest are all durable. The index object and the manifest are written side by side, so these tests make one
/// of them fail — the index object late, after the manifest is already written — and check that nothing names the
/// snapshot afterwards and that the next run is not disturbed.
/// </summary>
public sealed class CommitOrderTests
{
    [Theory]
    [InlineData(ObjectKeys.IndexPrefix)]
    [InlineData(ObjectKeys.ManifestsPrefix)]
    public async Task A_snapshot_whose_index_object_or_manifest_cannot_be_written_leaves_no_record_or_tag(string failingPrefix)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "a.bin"), XorShift.Bytes(3 << 20, seed: 21));
        var store = new FailingPrefixStore(new LocalObjectStore(workspace.RepoPath), failingPrefix);
        await using (var repository = await Cairn.Repository.Repository.OpenAsync(store))
        {
            var failure = await Assert.ThrowsAsync<IOException>(
                () => new Archiver(repository, new SnapshotOptions { Tags = ["main"] }).SnapshotAsync(source));
            Assert.Contains("injected", failure.Message, StringComparison.Ordinal);
        }

        Assert.True(store.Failures > 0, $"a write under {failingPrefix} was attempted");
        if (failingPrefix == ObjectKeys.IndexPrefix)
        {
            // The interleaving under test: the manifest was stored, the index object failed after it.
            Assert.NotEmpty(await workspace.Repository.Store.ListAsync(ObjectKeys.ManifestsPrefix).ToListAsync());
        }

        Assert.Empty(await workspace.Repository.ListSnapshotsAsync());
        Assert.Null(await workspace.Repository.TryReadTagAsync("main"));

        // The packs the failed run left are found again by the next one (as orphans, when its index object was lost).
        var next = await workspace.SnapshotAsync(source);
        Assert.Single(await workspace.Repository.ListSnapshotsAsync());
        Assert.Equal(0, next.Snapshot.Stats.NewBytes);
    }

    /// <summary>
    /// A real local store whose writes under one prefix fail. Index objects fail late, so the manifest, written at the
    /// same time, is already stored when the failure comes.
    /// </summary>
    private sealed class FailingPrefixStore(IObjectStore inner, string prefix) : DelegatingStore(inner)
    {
        private int _failures;

        public int Failures => _failures;

        public override async ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _failures);
                if (prefix == ObjectKeys.IndexPrefix)
                {
                    await Task.Delay(300, cancellationToken);
                }

                throw new IOException($"injected failure writing {key}");
            }

            await base.PutAsync(key, data, condition, cancellationToken);
        }
    }
}
