using Cairn.Format;
using Cairn.Restore;
using Cairn.Snapshot;

namespace Cairn.Storage.S3.Tests.EndToEnd;

/// <summary>Two hosts (two repositories, each with its own store) writing to one bucket prefix at the same time.</summary>
public sealed class ConcurrentHostsTests : S3TestBase
{
    public ConcurrentHostsTests(S3Server server)
        : base(server)
    {
    }

    [Fact]
    public async Task Two_hosts_snapshot_at_once_and_both_move_one_tag()
    {
        await Repository.Repository.InitAsync(OpenStore());
        var proxy = StartProxy();
        await using var hostA = await Repository.Repository.OpenAsync(new S3ObjectStore(Server.Options(Prefix, proxy.Endpoint)));
        await using var hostB = await Repository.Repository.OpenAsync(new S3ObjectStore(Server.Options(Prefix)));
        using var treeA = TestTree.Create(6);
        using var treeB = TestTree.Create(7);

        var snapshots = await Task.WhenAll(
            Task.Run(() => new Archiver(hostA, new SnapshotOptions { Host = "a", Tags = ["shared"] }).SnapshotAsync(treeA.Path)),
            Task.Run(() => new Archiver(hostB, new SnapshotOptions { Host = "b", Tags = ["shared"] }).SnapshotAsync(treeB.Path)));
        var a = snapshots[0].Snapshot.Id;
        var b = snapshots[1].Snapshot.Id;
        Assert.Equal(new[] { a, b }.Order(), (await hostA.ListSnapshotsAsync()).Select(s => s.Id).Order());

        // A conflict on demand: host B moves the tag between host A's read and host A's write (the proxy holds A's
        // write until B is done). A's write is refused, A reads again and wins on its second try.
        var tagWrites = 0;
        proxy.Fail(FaultKind.SlowDown, r =>
        {
            if (r.Method == "PUT" && r.IsFor(Prefix + "tags/shared") && Interlocked.Increment(ref tagWrites) == 1)
            {
                hostB.SetTagAsync("shared", b).GetAwaiter().GetResult();
            }

            return false;
        });
        await hostA.SetTagAsync("shared", a);
        Assert.Equal(2, tagWrites);
        Assert.Equal(a.ToString(), (await hostB.TryReadTagAsync("shared"))!.Snapshot);

        // Free-running: each host moves the tag again and again while the other does too.
        await Task.WhenAll(MoveTagAsync(hostA, a), MoveTagAsync(hostB, b));
        Assert.Contains((await hostB.TryReadTagAsync("shared"))!.Snapshot, new[] { a.ToString(), b.ToString() });

        // Each host reads what the other wrote.
        var target = TestTree.NewTargetPath();
        try
        {
            await new Restorer(hostB).RestoreAsync(await hostB.ReadSnapshotAsync(a), target);
            Assert.Empty(Cairn.Tests.Support.TreeComparer.Compare(treeA.Path, target));
        }
        finally
        {
            TestTree.Remove(target);
        }
    }

    [Fact]
    public async Task Of_two_hosts_that_init_at_once_exactly_one_creates_the_repository()
    {
        var stores = new[] { OpenStore(), OpenStore() };
        var results = await Task.WhenAll(stores.Select(store => Task.Run(async () =>
        {
            try
            {
                return (await Repository.Repository.InitAsync(store)).Config.Id;
            }
            catch (CairnException e)
            {
                return e.Message;
            }
        })));

        var created = (await Repository.Repository.OpenAsync(OpenStore())).Config.Id;
        Assert.Single(results, r => r == created);
        Assert.Single(results, r => r == $"a repository already exists at s3://{Server.Bucket}/{Prefix}");
    }

    private static Task MoveTagAsync(Repository.Repository host, ContentId snapshot) => Task.Run(async () =>
    {
        for (var i = 0; i < 10; i++)
        {
            await host.SetTagAsync("shared", snapshot);
        }
    });
}
