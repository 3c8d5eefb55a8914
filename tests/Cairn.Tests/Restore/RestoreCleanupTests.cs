using Cairn.Tests.Support;

namespace Cairn.Tests.Restore;

/// <summary>
/// What a restore removes once it is done (the contents --replace swapped out, and what earlier restores left beside
/// the target) when those hold read-only directories or immutable files, and what it says when it cannot write
/// beside its target: the real CLI, as the user nobody where permissions matter.
/// </summary>
public sealed class RestoreCleanupTests
{
    /// <summary>
    /// A user's read-only directories (Go's module cache makes them), or ones they cannot even list, in the contents
    /// --replace swapped out: removing them failed with EACCES after the swap, so the restore exited 1 having
    /// succeeded, left the old contents beside the target, and the next restore's sweep could not remove them either.
    /// </summary>
    [AsNobodyFact]
    public async Task Replace_as_a_user_removes_old_contents_with_read_only_directories_and_so_does_the_sweep()
    {
        using var temp = new TempDir();
        var (home, repo) = await NobodysSnapshotAsync(temp);
        var target = Path.Combine(home, "r");
        Assert.Equal(0, (await Nobody(repo, "restore", "g", target)).ExitCode);
        RunAsNobody("chmod 0 r/pkg/sub", home); // not even listable: its removal must be granted before it can open it

        var replaced = await Nobody(repo, "restore", "g", target, "--replace", "--json");

        Assert.True(replaced.ExitCode == 0, replaced.ToString());
        Assert.Equal(0, replaced.Json.GetProperty("warnings").GetArrayLength());
        Assert.Equal(["g", "r", "repo"], Names(home));
        TreeComparer.AssertEqual(Path.Combine(home, "g"), target);

        // What a killed restore would leave: a copy of the tree under a staging name, an hour old, locked by no one.
        RunAsNobody("cp -a r .r.cairn-restore-aaaaaaaaaaaa && touch -d '1 hour ago' .r.cairn-restore-aaaaaaaaaaaa", home);
        var swept = await Nobody(repo, "restore", "g", target, "--replace", "--json");

        Assert.True(swept.ExitCode == 0, swept.ToString());
        Assert.Equal(0, swept.Json.GetProperty("warnings").GetArrayLength());
        Assert.Equal(["g", "r", "repo"], Names(home));
    }

    /// <summary>
    /// An immutable file in the replaced contents cannot be removed by anyone: the restore has succeeded all the same
    /// (exit 0), and warns what it left and why; so does the sweep of the next restore. It exited 1 after the swap.
    /// </summary>
    [RootFact("it makes a file immutable (chattr +i)")]
    public async Task An_immutable_file_in_the_replaced_contents_is_left_with_a_warning_and_the_restore_succeeds()
    {
        using var temp = new TempDir();
        try
        {
            var repo = temp.Sub("repo");
            var source = temp.CreateSub("src");
            var target = temp.Sub("r");
            Shell.Run("mkdir pkg && echo x > pkg/f && chmod 555 pkg", source);
            await CairnCli.RunAsync(repo, "init");
            Assert.Equal(0, (await CairnCli.RunAsync(repo, "snapshot", source, "--tag", "g")).ExitCode);
            Assert.Equal(0, (await CairnCli.RunAsync(repo, "restore", "g", target)).ExitCode);
            Shell.Run("chattr +i r/pkg/f", temp.Path);

            var replaced = await CairnCli.RunAsync(repo, "restore", "g", target, "--replace", "--json");

            Assert.True(replaced.ExitCode == 0, replaced.ToString());
            TreeComparer.AssertEqual(source, target);
            var left = Assert.Single(Names(temp.Path), n => n.StartsWith(".r.cairn-restore-", StringComparison.Ordinal));
            var why = $"'{Path.Combine(temp.Path, left)}' is left behind (unlinkat '{left}/pkg/f': Operation not permitted (EPERM))";
            Assert.Equal($"the replaced contents of '{target}' could not be removed: {why}", Assert.Single(Warnings(replaced)));

            // Old enough for the sweep of the next restore, which tries again, and says so.
            Shell.Run($"touch -d '1 hour ago' {left}", temp.Path);
            var again = await CairnCli.RunAsync(repo, "restore", "g", target, "--replace", "--json");

            Assert.True(again.ExitCode == 0, again.ToString());
            Assert.Equal($"what an earlier restore to '{target}' left could not be removed: {why}", Assert.Single(Warnings(again)));
            Assert.Equal([left, "r", "repo", "src"], Names(temp.Path));
        }
        finally
        {
            Shell.Run("chattr -R -i . 2>/dev/null || true", temp.Path); // or the temporary directory cannot be removed
        }
    }

    /// <summary>
    /// A user's own empty directory, in a directory they cannot write: the restore cannot build beside it, and says
    /// that the parent is the reason (it said 'Permission denied' about the target, which the user owns).
    /// </summary>
    [AsNobodyFact]
    public async Task A_target_whose_parent_is_not_writable_is_refused_naming_the_parent_and_why()
    {
        using var temp = new TempDir();
        var (_, repo) = await NobodysSnapshotAsync(temp);
        var parent = temp.CreateSub("rp");
        var target = Path.Combine(parent, "mine");
        Directory.CreateDirectory(target);
        Shell.Run("chown 65534:65534 rp/mine", temp.Path);

        var refused = await Nobody(repo, "restore", "g", target);

        Assert.Equal(1, refused.ExitCode);
        Assert.Equal(
            $"cairn: cannot restore to '{target}': its parent directory '{parent}' is not writable, and a restore builds the tree in a new directory there, beside the target, to rename it into place once complete (Permission denied)\n",
            refused.Stderr);
        Assert.Equal(["mine"], Names(parent));
    }

    /// <summary>
    /// A directory nobody owns in <paramref name="temp"/> (made reachable), holding their repository and a snapshot
    /// tagged g of their tree g: pkg and pkg/sub read-only.
    /// </summary>
    private static async Task<(string Home, string Repo)> NobodysSnapshotAsync(TempDir temp)
    {
        var home = temp.CreateSub("nb");
        Shell.Run("chmod 755 . && chown 65534:65534 nb", temp.Path);
        RunAsNobody("mkdir -p g/pkg/sub && echo x > g/pkg/f && echo y > g/pkg/sub/f && chmod 555 g/pkg/sub g/pkg", home);
        var repo = Path.Combine(home, "repo");
        Assert.Equal(0, (await Nobody(repo, "init")).ExitCode);
        var snapshot = await Nobody(repo, "snapshot", Path.Combine(home, "g"), "--tag", "g");
        Assert.True(snapshot.ExitCode == 0, snapshot.ToString());
        return (home, repo);
    }

    private static Task<CliResult> Nobody(string repo, params string[] arguments) => CairnCli.RunAsync(repo, arguments, AsNobodyFactAttribute.Wrapper);

    private static void RunAsNobody(string script, string directory)
    {
        var (exitCode, _, error) = ProcessRunner.RunAsync(AsNobodyFactAttribute.Wrapper[0], [.. AsNobodyFactAttribute.Wrapper.Skip(1), "sh", "-ec", script], directory).GetAwaiter().GetResult();
        Assert.True(exitCode == 0, $"{script}: {error}");
    }

    private static List<string> Warnings(CliResult result) => [.. result.Json.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!)];

    private static List<string> Names(string directory) => [.. Directory.EnumerateFileSystemEntries(directory).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal)];
}
