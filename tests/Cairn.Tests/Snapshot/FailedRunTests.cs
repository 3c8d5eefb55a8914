using Cairn.Buffers;
using Cairn.Repository;
using Cairn.Snapshot;
using Cairn.Storage;
using Cairn.Tests.Buffers;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>
/// A run that fails gives back what it mapped: a daemon runs many snapshots in one process. Counted with
/// <see cref="PageAlignedBuffer.MappedBytes"/>, so this runs in the collection that has the process to itself.
/// </summary>
[Collection(PageAlignedBufferTests.Name)]
public sealed class FailedRunTests
{
    [Fact]
    public async Task A_snapshot_that_fails_while_streaming_a_large_file_unmaps_its_buffers()
    {
        await using var workspace = await Workspace.CreateAsync(Workspace.SmallPacks);
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "large.bin"), XorShift.Bytes(6 << 20, seed: 3));
        await using var store = new FailingPackStore(new LocalObjectStore(workspace.RepoPath));
        await using var repository = await Cairn.Repository.Repository.OpenAsync(store);
        var before = PageAlignedBuffer.MappedBytes;

        var failure = await Assert.ThrowsAsync<IOException>(() => new Archiver(repository).SnapshotAsync(source));

        Assert.Contains("injected", failure.Message, StringComparison.Ordinal);
        Assert.True(store.PackWrites > 0, "the run got as far as writing a pack");
        Assert.Equal(before, PageAlignedBuffer.MappedBytes);
    }

    /// <summary>A real local store whose pack uploads fail, as a disk that fills up mid-run does.</summary>
    private sealed class FailingPackStore(IObjectStore inner) : DelegatingStore(inner)
    {
        private int _packWrites;

        public int PackWrites => _packWrites;

        public override ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default)
        {
            if (key.StartsWith(ObjectKeys.PacksPrefix, StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _packWrites);
                throw new IOException($"injected failure writing {key}");
            }

            return base.PutAsync(key, data, condition, cancellationToken);
        }
    }
}
