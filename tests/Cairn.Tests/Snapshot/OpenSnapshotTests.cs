using Cairn.Repository;
using Cairn.Snapshot;
using Cairn.Storage;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>
/// <see cref="Cairn.Repository.Repository.OpenAsync(IObjectStore, string, CancellationToken)"/> reads a snapshot's tag
/// and record alongside the repository's config: it must find what opening and then resolving finds, make the reads
/// at once, and still report a missing or unreadable config as such, with nothing left running.
/// </summary>
public sealed class OpenSnapshotTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Every_form_of_reference_finds_what_resolving_after_opening_finds()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = SmallTree(workspace);
        var first = (await workspace.SnapshotAsync(source, new SnapshotOptions { Tags = ["base"] })).Snapshot;
        File.WriteAllText(Path.Combine(source, "new.txt"), "changed");
        var second = (await workspace.SnapshotAsync(source)).Snapshot;

        foreach (var (reference, expected) in new[]
        {
            ("base", first.Id), (second.Id.ToString(), second.Id), (second.Id.ToString()[..8], second.Id), (Cairn.Repository.Repository.LatestReference, second.Id),
        })
        {
            var (repository, snapshot) = await Cairn.Repository.Repository.OpenAsync(new LocalObjectStore(workspace.RepoPath), reference);
            await using (repository)
            {
                Assert.Equal(expected, snapshot.Id);
                Assert.Equal(workspace.Repository.Config.Id, repository.Config.Id);
            }
        }

        var unknown = await Assert.ThrowsAsync<UsageException>(() => Cairn.Repository.Repository.OpenAsync(new LocalObjectStore(workspace.RepoPath), "nothing"));
        Assert.Contains("no snapshot or tag 'nothing'", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_tag_is_read_while_the_config_is_still_being_read()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = SmallTree(workspace);
        var expected = (await workspace.SnapshotAsync(source, new SnapshotOptions { Tags = ["main"] })).Snapshot;

        // The config's read does not end until the tag's has begun: one after the other, they would wait for ever.
        var tagRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var store = new WatchedStore(new LocalObjectStore(workspace.RepoPath))
        {
            OnRead = async (key, ct) =>
            {
                if (key == ObjectKeys.Tag("main"))
                {
                    tagRead.TrySetResult();
                }
                else if (key == ObjectKeys.Config)
                {
                    await tagRead.Task.WaitAsync(s_timeout, ct);
                }
            },
        };

        var (repository, snapshot) = await Cairn.Repository.Repository.OpenAsync(store, "main");
        await using (repository)
        {
            Assert.Equal(expected.Id, snapshot.Id);
        }
    }

    [Fact]
    public async Task A_store_without_a_repository_says_so_and_the_resolution_is_stopped_before_the_call_returns()
    {
        using var dir = new TempDir();
        var resolutionEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var store = new WatchedStore(new LocalObjectStore(dir.Sub("empty")))
        {
            OnRead = async (key, ct) =>
            {
                if (key == ObjectKeys.Tag("main"))
                {
                    // Holds the resolution until it is cancelled (or the test times out), and ends a little later.
                    try
                    {
                        await Task.Delay(s_timeout, ct);
                    }
                    finally
                    {
                        await Task.Delay(200, CancellationToken.None);
                        resolutionEnded.TrySetResult();
                    }
                }
            },
        };

        await using (store)
        {
            var stopwatch = System.Diagnostics.Stopwatch.StartNew();
            var failure = await Assert.ThrowsAsync<CairnException>(() => Cairn.Repository.Repository.OpenAsync(store, "main"));
            Assert.Contains("no repository at", failure.Message, StringComparison.Ordinal);
            Assert.True(resolutionEnded.Task.IsCompleted, "the tag read was still running when OpenAsync returned");
            Assert.True(stopwatch.Elapsed < s_timeout / 2, $"OpenAsync returned after {stopwatch.Elapsed}: the tag read was not cancelled");
        }
    }

    private static string SmallTree(Workspace workspace)
    {
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "a.bin"), XorShift.Bytes(100_000, seed: 5));
        File.WriteAllText(Path.Combine(source, "b.txt"), "b");
        return source;
    }

    /// <summary>Runs <see cref="OnRead"/> before each whole-object read is passed on.</summary>
    private sealed class WatchedStore(IObjectStore inner) : DelegatingStore(inner)
    {
        public Func<string, CancellationToken, Task>? OnRead { get; init; }

        public override async ValueTask<byte[]> ReadAllAsync(string key, CancellationToken cancellationToken = default)
        {
            if (OnRead is not null)
            {
                await OnRead(key, cancellationToken);
            }

            return await base.ReadAllAsync(key, cancellationToken);
        }
    }
}
