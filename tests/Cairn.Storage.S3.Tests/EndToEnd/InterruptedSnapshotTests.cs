using Cairn.Repository;
using Cairn.Restore;
using Cairn.Snapshot;

namespace Cairn.Storage.S3.Tests.EndToEnd;

/// <summary>
/// Snapshots cut off in the middle of their uploads, by failing requests or by killing the process: the repository
/// stays valid, and the next run reuses the packs that made it to the server.
/// </summary>
public sealed class InterruptedSnapshotTests : S3TestBase
{
    public InterruptedSnapshotTests(S3Server server)
        : base(server)
    {
    }

    [Fact]
    public async Task Uploads_that_keep_failing_fail_the_snapshot_and_the_next_run_reuses_what_was_uploaded()
    {
        using var tree = await CreateTreeAndRepositoryAsync(4);

        // The first two pack uploads go through; every later one reaches the server, but the connection is reset
        // before the answer, every time: the packs land, the client never learns it.
        var proxy = StartProxy();
        var packPuts = 0;
        var rule = proxy.Fail(FaultKind.ResetMidResponse, r => IsPackPut(r) && Interlocked.Increment(ref packPuts) > 2);
        var failing = await Repository.Repository.OpenAsync(OpenStore(endpoint: proxy.Endpoint));
        var error = await Assert.ThrowsAsync<StoreException>(() => new Archiver(failing).SnapshotAsync(tree.Path));
        Assert.StartsWith("packs/", error.Key, StringComparison.Ordinal);
        Assert.StartsWith($"cannot write '{error.Key}' in s3://{Server.Bucket}/{Prefix}: ", error.Message, StringComparison.Ordinal);
        Assert.Contains(proxy.Endpoint.GetLeftPart(UriPartial.Authority), error.Message, StringComparison.Ordinal);
        Assert.Contains("(gave up after 6 attempts", error.Message, StringComparison.Ordinal);
        Assert.True(rule.Hits >= 6);

        // Valid: no snapshot, no index; the packs are there and verify.
        var repository = await Repository.Repository.OpenAsync(OpenStore(endpoint: StartProxy().Endpoint));
        Assert.Empty(await repository.ListSnapshotsAsync());
        Assert.Empty(await ListAsync(repository, ObjectKeys.IndexPrefix));
        var uploaded = await ListAsync(repository, ObjectKeys.PacksPrefix);
        Assert.True(uploaded.Count >= 3, $"{uploaded.Count} packs");
        Assert.Equal(uploaded.Count, (await repository.LoadIndexAsync()).PackIds.Count);

        await AssertRerunReusesAsync(tree, uploaded);
    }

    [Fact]
    public async Task A_cli_process_killed_in_the_middle_of_its_uploads_leaves_packs_the_next_run_reuses()
    {
        using var tree = await CreateTreeAndRepositoryAsync(5);

        // Two pack uploads go through, then every pack upload hangs: the process is stuck mid-snapshot.
        var proxy = StartProxy();
        var packPuts = 0;
        var stall = proxy.Fail(FaultKind.Stall, r => IsPackPut(r) && Interlocked.Increment(ref packPuts) > 2, stall: TimeSpan.FromMinutes(2));
        var repo = $"s3://{Server.Bucket}/{Prefix}";
        var repository = await Repository.Repository.OpenAsync(OpenStore());
        List<string> uploaded;
        using (var process = CairnCli.Start(Server.Environment, ["-r", repo, "--s3-endpoint", proxy.Endpoint.ToString(), "snapshot", tree.Path, "--json"]))
        {
            try
            {
                // Stuck on the third pack, and the second (which may have been in flight with it) is complete.
                for (var waited = 0; stall.Hits == 0 || (uploaded = await ListAsync(repository, ObjectKeys.PacksPrefix)).Count < 2; waited += 50)
                {
                    Assert.True(waited < 60_000 && !process.HasExited, "the snapshot never got stuck on its third pack upload");
                    await Task.Delay(50);
                }
            }
            finally
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }

        Assert.Empty(await repository.ListSnapshotsAsync());
        Assert.Equal(uploaded, await ListAsync(repository, ObjectKeys.PacksPrefix));
        Assert.Equal(2, uploaded.Count);

        await AssertRerunReusesAsync(tree, uploaded, cli: repo);
    }

    /// <summary>A tree of about 7 MiB and an empty repository with 1 MiB packs: a snapshot of it makes several.</summary>
    private async Task<TestTree> CreateTreeAndRepositoryAsync(int seed)
    {
        var tree = TestTree.Create(seed);
        tree.Write("bin/more.bin", TestTree.Noise(new Random(seed), 4 << 20));
        await Repository.Repository.InitAsync(OpenStore(), new RepositoryConfig { FrameSize = 256 << 10, PackSize = 1 << 20 });
        return tree;
    }

    private static bool IsPackPut(ProxiedRequest r) => r.Method == "PUT" && r.Path.Contains("/packs/", StringComparison.Ordinal);

    /// <summary>Runs the snapshot again without faults: it must not upload any of <paramref name="uploaded"/> again, and restore to the tree.</summary>
    private async Task AssertRerunReusesAsync(TestTree tree, List<string> uploaded, string? cli = null)
    {
        var proxy = StartProxy();
        if (cli is null)
        {
            await using var repository = await Repository.Repository.OpenAsync(new S3ObjectStore(Server.Options(Prefix, proxy.Endpoint)));
            await new Archiver(repository).SnapshotAsync(tree.Path);
        }
        else
        {
            var result = await CairnCli.RunAsync(Server.Environment, ["-r", cli, "--s3-endpoint", proxy.Endpoint.ToString(), "snapshot", tree.Path, "--json"]);
            Assert.True(result.ExitCode == 0, result.ToString());
        }

        var puts = proxy.Requests.Where(IsPackPut).ToList();
        Assert.NotEmpty(puts);
        Assert.DoesNotContain(puts, r => uploaded.Any(key => r.IsFor(Prefix + key)));

        await using var reader = await Repository.Repository.OpenAsync(OpenStoreUntracked());
        var snapshot = Assert.Single(await reader.ListSnapshotsAsync());
        var target = TestTree.NewTargetPath();
        try
        {
            await new Restorer(reader).RestoreAsync(snapshot, target);
            Assert.Empty(Cairn.Tests.Support.TreeComparer.Compare(tree.Path, target));
        }
        finally
        {
            TestTree.Remove(target);
        }
    }

    private S3ObjectStore OpenStoreUntracked() => new(Server.Options(Prefix));

    private static async Task<List<string>> ListAsync(Repository.Repository repository, string prefix)
    {
        var keys = new List<string>();
        await foreach (var info in repository.Store.ListAsync(prefix))
        {
            keys.Add(info.Key);
        }

        return keys;
    }
}
