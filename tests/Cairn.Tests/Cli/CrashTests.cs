using Cairn.Repository;
using Cairn.Tests.Support;
using Xunit.Abstractions;

namespace Cairn.Tests.Cli;

/// <summary>
/// The real CLI killed with SIGKILL in the middle of a snapshot: the repository stays valid (every listed snapshot
/// restores exactly, none is half-written), and the next run reuses the packs the killed runs left.
/// </summary>
public sealed class CrashTests(ITestOutputHelper output)
{
    /// <summary>
    /// SIGINT in the middle of a snapshot (sent as it opens its first object): exit 130, a line on standard error that
    /// says what is left (it exited without a word), no snapshot recorded, and a rerun that completes.
    /// </summary>
    [Fact]
    public async Task An_interrupted_snapshot_says_so_records_nothing_and_a_rerun_completes()
    {
        await using var workspace = await Workspace.CreateAsync(new RepositoryConfig { ChunkMin = 4096, ChunkAverage = 16384, ChunkMax = 65536, FrameSize = 65536, PackSize = 256 << 10 });
        var source = workspace.Dir.CreateSub("src");
        TreeGenerator.Generate(source, 32, TreeShape.Bulk(6 << 20));
        System.Diagnostics.Process? victim = null;
        var signalled = false;
        using (var hook = FanotifyHook.BeforeOpensIn(Path.Combine(workspace.RepoPath, ".tmp"), n =>
        {
            if (n == 1 && victim is { HasExited: false })
            {
                using var kill = System.Diagnostics.Process.Start("kill", ["-INT", victim.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                kill.WaitForExit();
                signalled = true;
            }
        }))
        using (victim = CairnCli.Start(workspace.RepoPath, ["snapshot", source]))
        {
            var stdout = victim.StandardOutput.ReadToEndAsync();
            var error = victim.StandardError.ReadToEndAsync();
            await victim.WaitForExitAsync();
            Assert.Null(hook.Failure);
            Assert.True(signalled);
            Assert.Equal(130, victim.ExitCode);
            Assert.Contains("cairn: interrupted (SIGINT): a snapshot that did not finish is not recorded", await error, StringComparison.Ordinal);
            Assert.Empty(await stdout);
        }

        Assert.Empty(await workspace.Repository.ListSnapshotsAsync());
        var rerun = await CairnCli.RunAsync(workspace.RepoPath, "snapshot", source, "--json");
        Assert.Equal(0, rerun.ExitCode);
        Assert.Single(await workspace.Repository.ListSnapshotsAsync());
    }

    [Fact]
    public async Task Snapshots_killed_at_random_points_leave_a_valid_repository_and_the_rerun_reuses_their_packs()
    {
        // Small chunks, frames and packs: 6 MiB make about thirty packs. The local store writes every object to .tmp/
        // first, so a kill at the n-th open there lands between (or, with two uploads in flight, inside) object writes.
        await using var workspace = await Workspace.CreateAsync(new RepositoryConfig { ChunkMin = 4096, ChunkAverage = 16384, ChunkMax = 65536, FrameSize = 65536, PackSize = 256 << 10 });
        var source = workspace.Dir.CreateSub("src");
        var treeBytes = TreeGenerator.Generate(source, 31, TreeShape.Bulk(6 << 20));
        var random = new Random(31);
        var verified = new HashSet<string>();
        var kills = 0;
        for (var i = 0; i < 8; i++)
        {
            var killed = false;
            System.Diagnostics.Process? victim = null;
            var killAt = random.Next(1, 12);

            // Most runs die as they open their n-th object; the last two at a random time from start-up on.
            using (var hook = i < 6 ? FanotifyHook.BeforeOpensIn(Path.Combine(workspace.RepoPath, ".tmp"), n => Kill(n == killAt)) : null)
            using (victim = CairnCli.Start(workspace.RepoPath, ["snapshot", source, "--json"]))
            {
                var drain = Task.WhenAll(victim.StandardOutput.ReadToEndAsync(), victim.StandardError.ReadToEndAsync());
                if (hook is null)
                {
                    await Task.Delay(random.Next(0, 1500));
                    Kill(true);
                }

                await victim.WaitForExitAsync();
                await drain;
                Assert.Null(hook?.Failure);
            }

            kills += killed ? 1 : 0;
            await AssertEverySnapshotRestoresAsync(workspace, source, verified);
            output.WriteLine($"run {i}: {(killed ? "killed" : "finished")}{(i < 6 ? $" (at object {killAt})" : "")}, {PackCount(workspace)} packs, {verified.Count} snapshots");

            void Kill(bool now)
            {
                if (now && victim is { HasExited: false })
                {
                    victim.Kill();
                    killed = true;
                }
            }
        }

        var leftPacks = PackCount(workspace);
        var completedBefore = verified.Count;
        var rerun = await CairnCli.RunAsync(workspace.RepoPath, "snapshot", source, "--json");

        output.WriteLine($"re-run: {rerun.Text}");
        Assert.True(rerun.ExitCode == 0, rerun.ToString());
        Assert.True(kills >= 3, $"only {kills} runs were killed");
        Assert.True(leftPacks > 0, "no kill came after a pack was written");
        var stats = rerun.Json.GetProperty("stats");
        Assert.Equal(treeBytes, stats.GetProperty("bytes").GetInt64());
        Assert.True(
            completedBefore > 0 ? stats.GetProperty("newBytes").GetInt64() == 0 : stats.GetProperty("newBytes").GetInt64() < treeBytes,
            $"the re-run stored {stats.GetProperty("newBytes").GetInt64()} new bytes after {leftPacks} packs were left behind");
        await AssertEverySnapshotRestoresAsync(workspace, source, verified);
        Assert.Equal(completedBefore + 1, verified.Count);
    }

    private static int PackCount(Workspace workspace)
    {
        var packs = Path.Combine(workspace.RepoPath, "packs");
        return Directory.Exists(packs) ? Directory.EnumerateFiles(packs, "*", SearchOption.AllDirectories).Count() : 0;
    }

    /// <summary>Every snapshot the repository lists (and that was not checked before) restores to exactly the source tree.</summary>
    private static async Task AssertEverySnapshotRestoresAsync(Workspace workspace, string source, HashSet<string> verified)
    {
        await using var repository = await workspace.ReopenAsync();
        foreach (var snapshot in await repository.ListSnapshotsAsync())
        {
            if (verified.Add(snapshot.Id.ToString()))
            {
                var target = workspace.Dir.Sub("restored");
                await workspace.RestoreAsync(snapshot, target);
                TreeComparer.AssertEqual(source, target);
                TempDir.Remove(target);
            }
        }
    }
}
