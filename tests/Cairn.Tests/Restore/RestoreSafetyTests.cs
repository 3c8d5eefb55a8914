using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Restore;
using Cairn.Tests.Support;

namespace Cairn.Tests.Restore;

/// <summary>Where a restore may write: never to '/', never through a symlink, never over a file; old contents are removed without following links.</summary>
public sealed class RestoreSafetyTests
{
    [Theory]
    [InlineData("/")]
    [InlineData("//")]
    [InlineData("/./")]
    [InlineData("/tmp/..")]
    public async Task Restoring_to_the_root_directory_is_refused_and_writes_nothing(string target)
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var rootBefore = RootNames();

        var e = await Assert.ThrowsAsync<UsageException>(() => workspace.RestoreAsync(snapshot, target));

        Assert.Equal("refusing to restore to '/'", e.Message);
        Assert.Equal(rootBefore, RootNames());
    }

    [Fact]
    public async Task A_target_that_is_a_symlink_is_refused_whether_it_points_to_the_root_or_elsewhere()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var canary = CreateCanary(workspace);
        var toRoot = workspace.Dir.Sub("to-root");
        var toCanary = workspace.Dir.Sub("to-canary");
        File.CreateSymbolicLink(toRoot, "/");
        File.CreateSymbolicLink(toCanary, canary.Path);
        var rootBefore = RootNames();

        foreach (var link in new[] { toRoot, toCanary, toRoot + "/", toCanary + "/." })
        {
            var e = await Assert.ThrowsAsync<UsageException>(() => workspace.RestoreAsync(snapshot, link, new RestoreOptions { Replace = true }));
            Assert.Contains("is a symbolic link", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(rootBefore, RootNames());
        canary.AssertUntouched();
        Assert.Equal(["canary", "canary-reference", "repo", "src", "to-canary", "to-root"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task A_target_that_is_a_file_is_refused_and_left_alone()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var file = workspace.Dir.Sub("file");
        File.WriteAllText(file, "keep me");

        var e = await Assert.ThrowsAsync<UsageException>(() => workspace.RestoreAsync(snapshot, file, new RestoreOptions { Replace = true }));

        Assert.Equal($"the target '{file}' exists and is not a directory", e.Message);
        Assert.Equal("keep me", File.ReadAllText(file));
        Assert.Equal(["file", "repo", "src"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task Replacing_contents_that_hold_symlinks_to_outside_removes_the_links_not_their_targets()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var canary = CreateCanary(workspace);
        var target = workspace.Dir.CreateSub("target");
        File.CreateSymbolicLink(Path.Combine(target, "into-canary"), canary.Path);
        Directory.CreateDirectory(Path.Combine(target, "sub"));
        File.CreateSymbolicLink(Path.Combine(target, "sub", "canary-file"), Path.Combine(canary.Path, "file.txt"));

        await workspace.RestoreAsync(snapshot, target, new RestoreOptions { Replace = true });

        TreeComparer.AssertEqual(workspace.Dir.Sub("src"), target);
        canary.AssertUntouched();
        Assert.Equal(["canary", "canary-reference", "repo", "src", "target"], workspace.TopLevelNames());
    }

    [Fact]
    public async Task An_empty_target_directory_is_replaced_by_the_snapshot_root()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var target = workspace.Dir.CreateSub("target");

        await workspace.RestoreAsync(snapshot, target);

        TreeComparer.AssertEqual(workspace.Dir.Sub("src"), target);
        Assert.Equal(["repo", "src", "target"], workspace.TopLevelNames());
    }

    /// <summary>
    /// A restore that was killed leaves its staging directory beside the target; the next restore to that target
    /// removes it, but not one a live restore holds (its lock), nor one created in the last minute, nor another
    /// target's. They were left forever: gigabytes, for a VM image.
    /// </summary>
    [Fact]
    public async Task A_restore_removes_the_staging_directories_killed_restores_left_and_only_those()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var parent = workspace.Dir.CreateSub("out");
        string Staging(string target, char digit, bool old)
        {
            var path = Directory.CreateDirectory(Path.Combine(parent, $".{target}.cairn-restore-{new string(digit, 12)}")).FullName;
            File.WriteAllText(Path.Combine(path, "partial"), "left by a killed restore");
            if (old)
            {
                Directory.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddMinutes(-5));
            }

            return path;
        }

        var abandoned = Staging("r", 'a', old: true);
        var held = Staging("r", 'b', old: true);
        var young = Staging("r", 'c', old: false);
        var other = Staging("other", 'd', old: true);
        using (var live = LinuxFile.OpenDirectory(held))
        {
            Assert.True(LinuxFile.TryLockExclusive(live)); // as the restore filling it does
            await workspace.RestoreAsync(snapshot, Path.Combine(parent, "r"));
        }

        Assert.False(Directory.Exists(abandoned));
        Assert.True(Directory.Exists(held));
        Assert.True(Directory.Exists(young));
        Assert.True(Directory.Exists(other));
        Assert.Equal("hello\n", File.ReadAllText(Path.Combine(parent, "r", "d", "f")));

        // Once its holder is gone (the lock released, as when a process dies), the next restore removes it too.
        await workspace.RestoreAsync(snapshot, Path.Combine(parent, "r"), new RestoreOptions { Replace = true });
        Assert.False(Directory.Exists(held));
        Assert.True(Directory.Exists(young));
    }

    /// <summary>
    /// A target inside the repository, the repository itself, or one holding it is refused, and nothing is written:
    /// with --replace, a target holding the repository would have had it swapped out and deleted.
    /// </summary>
    [Fact]
    public async Task A_target_inside_the_repository_or_holding_it_is_refused()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var root = workspace.Repository.Store.Location;
        var before = Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

        // Through symbolic links too: one to the repository, and one to the directory above the one that holds it (as
        // /home -> /var/home).
        var holder = Path.GetDirectoryName(root)!;
        var toRepository = workspace.Dir.Sub("to-repo");
        var toAbove = workspace.Dir.Sub("to-above");
        File.CreateSymbolicLink(toRepository, root);
        File.CreateSymbolicLink(toAbove, Path.GetDirectoryName(holder)!);
        foreach (var (target, why) in new[]
        {
            (Path.Combine(root, "inside"), "it is inside the repository"),
            (root, "it is inside the repository"),
            (Path.GetDirectoryName(root)!, "it holds the repository"),
            (Path.Combine(toRepository, "inside"), "it is inside the repository"),
            (Path.Combine(toAbove, Path.GetFileName(holder)), "it holds the repository"),
        })
        {
            var e = await Assert.ThrowsAsync<UsageException>(() => workspace.RestoreAsync(snapshot, target, new RestoreOptions { Replace = true }));
            Assert.Equal($"refusing to restore to '{Path.TrimEndingDirectorySeparator(Path.GetFullPath(target))}': {why} at {root}", e.Message);
        }

        Assert.Equal(before, Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
    }

    /// <summary>A target on a read-only file system is said to be one, by its own name: the error named the restore's staging directory.</summary>
    [RootFact]
    public async Task A_read_only_target_is_a_clear_error_naming_the_target()
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var readOnly = workspace.Dir.CreateSub("ro");
        await Cairn.Tests.Images.LoopXfs.Run("mount", "-t", "tmpfs", "-o", "ro,size=1m", "cairn-test", readOnly);
        try
        {
            var target = Path.Combine(readOnly, "out");
            var e = await Assert.ThrowsAsync<CairnException>(() => workspace.RestoreAsync(snapshot, target));
            Assert.Equal($"cannot restore to '{target}': Read-only file system", e.Message);
        }
        finally
        {
            await Cairn.Tests.Images.LoopXfs.Run("umount", readOnly);
        }
    }

    /// <summary>
    /// Two restores to one absent (or empty) target: each builds its own tree, and the one that finishes second finds
    /// the target taken. It failed with the raw 'renameat2 … File exists (EEXIST)'; it says what happened, and that
    /// nothing of it was applied (the winner's tree is whole, and the loser's is gone).
    /// </summary>
    [Theory]
    [InlineData(false, "created")]
    [InlineData(true, "filled")]
    public async Task A_restore_another_restore_to_the_same_target_finished_before_fails_clearly_and_applies_nothing(bool targetExists, string what)
    {
        await using var workspace = await Workspace.CreateAsync();
        var snapshot = await SnapshotSmallTreeAsync(workspace);
        var other = workspace.Dir.CreateSub("other");
        File.WriteAllText(Path.Combine(other, "winner"), "restored first");
        var otherSnapshot = (await workspace.SnapshotAsync(other)).Snapshot;
        var target = workspace.Dir.Sub("out");
        if (targetExists)
        {
            Directory.CreateDirectory(target);
        }

        // The other restore runs whole while this one reads its data: between this one's start and its commit.
        await using var repository = await Cairn.Repository.Repository.OpenAsync(
            new HookedStore(new Storage.LocalObjectStore(workspace.RepoPath), async read =>
            {
                if (read == 1)
                {
                    await workspace.RestoreAsync(otherSnapshot, target);
                }
            }));
        var e = await Assert.ThrowsAsync<CairnException>(() => new Restorer(repository).RestoreAsync(snapshot, target));

        Assert.Equal($"cannot restore to '{target}': it was {what} while this restore ran (another restore to the same target finished first?); nothing of this restore was applied", e.Message);
        TreeComparer.AssertEqual(other, target);
        Assert.Equal(["other", "out", "repo", "src"], workspace.TopLevelNames());
    }

    private static async Task<SnapshotRecord> SnapshotSmallTreeAsync(Workspace workspace)
    {
        var source = workspace.Dir.CreateSub("src");
        Shell.Run("mkdir d && echo hello > d/f && ln -s ../../.. d/up && chmod 0751 d", source);
        return (await workspace.SnapshotAsync(source)).Snapshot;
    }

    private static IReadOnlyList<string> RootNames() => [.. Directory.EnumerateFileSystemEntries("/").Order(StringComparer.Ordinal)];

    internal static Canary CreateCanary(Workspace workspace) => new(workspace.Dir);

    /// <summary>A directory outside every restore target, with a reference copy to check it was not touched.</summary>
    internal sealed class Canary
    {
        private readonly string _reference;

        public Canary(TempDir dir)
        {
            Path = dir.CreateSub("canary");
            File.WriteAllText(System.IO.Path.Combine(Path, "file.txt"), "canary");
            Directory.CreateDirectory(System.IO.Path.Combine(Path, "sub"));
            _reference = dir.Sub("canary-reference");
            Shell.Run($"cp -a '{Path}' '{_reference}'", dir.Path);
        }

        public string Path { get; }

        public void AssertUntouched() => TreeComparer.AssertEqual(_reference, Path);
    }
}
