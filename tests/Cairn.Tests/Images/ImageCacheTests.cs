using Cairn.Repository;
using Cairn.Restore;
using Cairn.Snapshot;
using Cairn.Tests.Fuse;

namespace Cairn.Tests.Images;

/// <summary>
/// Restores through the local image cache (<c>--reflink</c>, <see cref="ImageCache"/>): each restore keeps its images
/// there as clones, and the next one clones what it shares with the nearest cached version.
/// </summary>
[Collection(FuseMountsDefinition.Name)] // loop mounts run one after another
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ImageCacheTests
{
    private const long ImageBlocks = 8192; // 32 MiB

    [LoopXfsFact]
    public async Task A_restore_clones_what_it_shares_with_a_version_restored_before()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 2, seed: 11);
        var cache = lineage.Cache;

        var first = await lineage.RestoreAsync(0, "v0", cache);
        Assert.Equal(0, first.BytesCloned);
        Assert.Null(first.ClonedFrom);
        Assert.Empty(first.Warnings);
        Assert.Equal([lineage.Ids[0]], CachedVersions(lineage, cache));

        var second = await lineage.RestoreAsync(1, "v1", cache);
        Assert.Empty(second.Warnings);
        Assert.Equal(lineage.Ids[0], second.ClonedFrom);
        Assert.InRange(second.Bytes, 1, 64L * TestImage.Block); // the blocks generation 1 changed, at most
        Assert.Equal(lineage.States[1].NonZeroBlocks.Count * (long)TestImage.Block, second.Bytes + second.BytesCloned);
        Assert.Equal(lineage.Ids.Order(), CachedVersions(lineage, cache).Order());
        Assert.Contains("shared", await LoopXfs.Run("filefrag", "-v", lineage.Xfs.PathOf("v1/mem.img")), StringComparison.Ordinal);

        // The same version again: everything comes from its own cached copy.
        var again = await lineage.RestoreAsync(1, "v1-again", cache);
        Assert.Equal(lineage.Ids[1], again.ClonedFrom);
        Assert.Equal(0, again.Bytes);

        lineage.States[0].AssertRestoredAs(lineage.Xfs.PathOf("v0/mem.img"));
    }

    [LoopXfsFact]
    public async Task The_nearest_cached_ancestor_is_preferred_to_the_most_recently_used_version()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 3, seed: 12);
        var cache = lineage.Cache;
        await lineage.RestoreAsync(1, "v1", cache);
        await lineage.RestoreAsync(0, "v0", cache); // now the most recently used, but two generations away from v2

        var result = await lineage.RestoreAsync(2, "v2", cache);
        Assert.Equal(lineage.Ids[1], result.ClonedFrom);
        Assert.InRange(result.Bytes, 1, 64L * TestImage.Block);
    }

    [LoopXfsFact]
    public async Task Without_a_cached_ancestor_the_most_recent_version_of_the_same_image_is_the_base()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 2, seed: 17);
        var cache = lineage.Cache;
        await lineage.RestoreAsync(1, "v1", cache);

        // Another VM's image, restored since: the most recently used version, but of no image the sibling has.
        var other = new TestImage(lineage.Workspace.PathOf("disk.img"), 256, seed: 19);
        other.Change(32, zeroOneIn: int.MaxValue);
        var otherSnapshot = (await lineage.Workspace.SnapshotAsync([other.Path], parent: SnapshotOptions.NoParent)).Snapshot;
        await lineage.Workspace.RestoreAsync(otherSnapshot, lineage.Xfs.PathOf("other"), new RestoreOptions { ReflinkCache = cache });

        // A sibling of v1: a fork from v0, whose restore the cache does not hold.
        lineage.Image.Change(64, zeroOneIn: 4);
        var expected = lineage.Image.State();
        var sibling = (await lineage.Workspace.SnapshotAsync([lineage.Image.Path], parent: lineage.Ids[0])).Snapshot;

        var result = await lineage.Workspace.RestoreAndCheckAsync(sibling, expected, "mem.img", lineage.Xfs.PathOf("sibling"), new RestoreOptions { ReflinkCache = cache });
        Assert.Equal(lineage.Ids[1], result.ClonedFrom);
        Assert.InRange(result.Bytes, 1, 64L * TestImage.Block);
    }

    [LoopXfsFact]
    public async Task A_cached_version_changed_since_is_dropped_not_cloned()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 2, seed: 13);
        var cache = lineage.Cache;
        await lineage.RestoreAsync(0, "v0", cache);
        var cached = VersionOf(lineage, cache, 0);

        // Someone writes into the cached copy: its blocks are no longer what its snapshot says.
        Touch(Path.Combine(cached, "mem.img"));

        var result = await lineage.RestoreAsync(1, "v1", cache);
        Assert.Equal(0, result.BytesCloned);
        Assert.Empty(result.Warnings);
        Assert.Equal([lineage.Ids[1]], CachedVersions(lineage, cache)); // the damaged version is gone, the new one kept
    }

    [LoopXfsFact]
    public async Task A_cache_on_a_file_system_that_cannot_clone_leaves_the_restore_as_it_was()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 1, seed: 14);
        var cache = lineage.Workspace.PathOf("cache"); // not on the XFS

        var result = await lineage.RestoreAsync(0, "v0", cache);
        Assert.Equal(0, result.BytesCloned);
        Assert.Contains(result.Warnings, w => w.Contains("--reflink has no effect here", StringComparison.Ordinal));
        Assert.Empty(CachedVersions(lineage, cache));
        Assert.Empty(Directory.GetFileSystemEntries(CacheDirectory(lineage, cache))); // and no temporary left behind
    }

    [LoopXfsFact]
    public async Task What_an_interrupted_add_left_is_removed_once_it_is_stale()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 1, seed: 28);
        var cache = lineage.Cache;
        var images = Directory.CreateDirectory(CacheDirectory(lineage, cache)).FullName;
        var crashed = Directory.CreateDirectory(Path.Combine(images, ".tmp-1-crashed")).FullName;
        await File.WriteAllTextAsync(Path.Combine(crashed, "mem.img"), "a clone a crash left");
        Directory.SetLastWriteTimeUtc(crashed, DateTime.UtcNow.AddHours(-2));
        var inProgress = Directory.CreateDirectory(Path.Combine(images, ".tmp-2-in-progress")).FullName; // another process's add

        // Swept also by a restore that adds nothing: here its target is on another file system than the cache.
        var result = await lineage.Workspace.RestoreAsync(lineage.Records[0], lineage.Workspace.PathOf("v0"), new RestoreOptions { ReflinkCache = cache });
        Assert.Contains(result.Warnings, w => w.Contains("--reflink has no effect here", StringComparison.Ordinal));
        Assert.False(Directory.Exists(crashed));
        Assert.True(Directory.Exists(inProgress));
    }

    [LoopXfsFact]
    public async Task Only_the_most_recently_used_versions_are_kept()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 3, seed: 15);
        var cache = lineage.Cache;
        for (var generation = 0; generation < 3; generation++)
        {
            await lineage.RestoreAsync(generation, $"v{generation}", cache, versions: 2);
        }

        Assert.Equal(lineage.Ids[1..].Order(), CachedVersions(lineage, cache).Order());
    }

    [LoopXfsFact]
    public async Task One_changed_image_drops_the_whole_version()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        await using var xfs = await LoopXfs.CreateAsync();
        var disk = new TestImage(workspace.PathOf("disk.img"), 1024, seed: 26);
        var memory = new TestImage(workspace.PathOf("mem.img"), 1024, seed: 27);
        disk.Change(256, zeroOneIn: int.MaxValue);
        memory.Change(256, zeroOneIn: int.MaxValue);
        var expected = memory.State();
        var snapshot = (await workspace.SnapshotAsync([disk.Path, memory.Path])).Snapshot;
        var options = new RestoreOptions { ReflinkCache = xfs.PathOf("cache") };
        await workspace.RestoreAsync(snapshot, xfs.PathOf("v0"), options);
        var version = Path.Combine(CacheDirectory(workspace, xfs.PathOf("cache")), snapshot.Id.ToString());
        Touch(Path.Combine(version, "disk.img"));

        // mem.img is intact, but a version with one file touched is not trusted for any.
        var result = await workspace.RestoreAndCheckAsync(snapshot, expected, "mem.img", xfs.PathOf("v1"), options);
        Assert.Equal(0, result.BytesCloned);
        disk.State().AssertRestoredAs(Path.Combine(version, "disk.img")); // the restore kept its own images as the new version
    }

    [LoopXfsFact]
    public async Task A_cache_that_cannot_be_written_costs_the_restore_only_a_warning()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 1, seed: 22);
        var root = lineage.Cache;
        var images = CacheDirectory(lineage, root);

        // The cache root cannot take the repository's directory; then the images directory cannot take a version.
        Directory.CreateDirectory(root);
        var result = await WhileImmutableAsync(root, () => lineage.RestoreAsync(0, "v0", root));
        Assert.Contains(result.Warnings, w => w.Contains("cannot use the image cache", StringComparison.Ordinal));

        Directory.CreateDirectory(images);
        result = await WhileImmutableAsync(images, () => lineage.RestoreAsync(0, "v1", root));
        Assert.Contains(result.Warnings, w => w.Contains("could not keep the restored images", StringComparison.Ordinal));
    }

    [LoopXfsFact]
    public async Task A_version_that_cannot_be_marked_used_still_serves_and_is_closed()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 1, seed: 25);
        var cache = lineage.Cache;
        await lineage.RestoreAsync(0, "v0", cache);
        var version = VersionOf(lineage, cache, 0);

        // utimensat fails with EPERM, as on a version another user made.
        var result = await WhileImmutableAsync(version, () => lineage.RestoreAsync(0, "v1", cache));

        Assert.Equal(lineage.Ids[0], result.ClonedFrom);

        // Looked at before any collection: a descriptor left to the finalizer would still be open here.
        Assert.DoesNotContain(
            new DirectoryInfo("/proc/self/fd").GetFileSystemInfos().Select(f => f.LinkTarget),
            target => target is not null && target.StartsWith(version, StringComparison.Ordinal));
    }

    [LoopXfsFact]
    public async Task A_restore_into_or_over_the_cache_is_refused()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 1, seed: 23);
        var cache = lineage.Cache;
        await lineage.RestoreAsync(0, "v0", cache);
        var version = VersionOf(lineage, cache, 0);
        var record = lineage.Records[0];

        foreach (var target in new[] { version, lineage.Xfs.MountPoint })
        {
            var options = new RestoreOptions { ReflinkCache = cache, Replace = true };
            var error = await Assert.ThrowsAsync<UsageException>(() => lineage.Workspace.RestoreAsync(record, target, options));
            Assert.Contains("the image cache is", error.Message, StringComparison.Ordinal);
        }

        lineage.States[0].AssertRestoredAs(Path.Combine(version, "mem.img"));
    }

    [LoopXfsFact]
    public async Task Concurrent_restores_add_use_and_evict_versions_safely()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 4, seed: 24);
        var cache = lineage.Cache;
        for (var round = 0; round < 3; round++)
        {
            // One version kept: each restore evicts versions the others may be cloning from.
            var restores = Enumerable.Range(0, 4).Select(g => Task.Run(() => lineage.RestoreAsync(g, $"r{round}-v{g}", cache, versions: 1)));
            Assert.All(await Task.WhenAll(restores), r => Assert.Empty(r.Warnings));
        }

        Assert.Single(CachedVersions(lineage, cache));
    }

    [LoopXfsFact]
    public async Task A_restore_through_the_cache_still_serves_as_an_explicit_base()
    {
        await using var lineage = await Lineage.CreateAsync(generations: 2, seed: 21);
        await lineage.RestoreAsync(0, "v0", lineage.Cache); // cloning it into the cache leaves it as it was

        var result = await lineage.Workspace.RestoreAndCheckAsync(lineage.Records[1], lineage.States[1], "mem.img", lineage.Xfs.PathOf("v1"), new RestoreOptions { ReflinkFrom = lineage.Xfs.PathOf("v0") });
        Assert.Empty(result.Warnings);
        Assert.True(result.BytesCloned > 0);
    }

    [Fact]
    public async Task A_tree_snapshot_is_restored_without_the_cache_with_a_warning()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var source = Directory.CreateDirectory(workspace.PathOf("tree")).FullName;
        await File.WriteAllTextAsync(Path.Combine(source, "a.txt"), "hello");
        var snapshot = (await new Archiver(workspace.Repository, new SnapshotOptions()).SnapshotAsync(source)).Snapshot;

        var result = await workspace.RestoreAsync(snapshot, workspace.PathOf("restored"), new RestoreOptions { ReflinkCache = workspace.PathOf("cache") });
        Assert.Contains(result.Warnings, w => w.Contains("--reflink applies to image snapshots", StringComparison.Ordinal));
        Assert.Equal("hello", await File.ReadAllTextAsync(workspace.PathOf("restored/a.txt")));
        Assert.False(Directory.Exists(workspace.PathOf("cache")));
    }

    [Fact]
    public async Task The_cache_and_an_explicit_base_exclude_each_other()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new TestImage(workspace.PathOf("mem.img"), 256, seed: 16);
        image.Change(16, zeroOneIn: int.MaxValue);
        var snapshot = (await workspace.SnapshotAsync([image.Path])).Snapshot;

        var options = new RestoreOptions { ReflinkCache = workspace.PathOf("cache"), ReflinkFrom = workspace.PathOf("base") };
        var error = await Assert.ThrowsAsync<UsageException>(() => workspace.RestoreAsync(snapshot, workspace.PathOf("restored"), options));
        Assert.Contains("cannot be used together", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(workspace.PathOf("restored")));
    }

    /// <summary>Runs <paramref name="action"/> with <paramref name="path"/> immutable (chattr +i): nothing in it can be created, removed or changed, even by root.</summary>
    private static async Task<T> WhileImmutableAsync<T>(string path, Func<Task<T>> action)
    {
        await LoopXfs.Run("chattr", "+i", path);
        try
        {
            return await action();
        }
        finally
        {
            await LoopXfs.Run("chattr", "-i", path);
        }
    }

    /// <summary>Writes a block of junk at the start of a cached image (made writable first: the cache keeps them read-only).</summary>
    private static void Touch(string path)
    {
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        var junk = new byte[TestImage.Block];
        Array.Fill(junk, (byte)0xAB);
        file.Write(junk);
    }

    private static string VersionOf(Lineage lineage, string cacheRoot, int generation) =>
        Path.Combine(CacheDirectory(lineage, cacheRoot), lineage.Ids[generation]);

    private static string CacheDirectory(Lineage lineage, string cacheRoot) => CacheDirectory(lineage.Workspace, cacheRoot);

    /// <summary>The <c>images/</c> directory of <paramref name="workspace"/>'s repository in the cache under <paramref name="cacheRoot"/>.</summary>
    private static string CacheDirectory(ImageWorkspace workspace, string cacheRoot) =>
        Path.Combine(LocalCache.DirectoryOf(cacheRoot, workspace.Repository.Config.Id), "images");

    /// <summary>The snapshot ids the cache holds a version of.</summary>
    private static List<string> CachedVersions(Lineage lineage, string cacheRoot) =>
        Directory.GetDirectories(CacheDirectory(lineage, cacheRoot)).Select(Path.GetFileName).Where(n => !n!.StartsWith('.')).ToList()!;

    /// <summary>A lineage of snapshots of one image, each generation 64 blocks changed, and an XFS to restore to.</summary>
    private sealed class Lineage : IAsyncDisposable
    {
        private Lineage(ImageWorkspace workspace, LoopXfs xfs)
        {
            Workspace = workspace;
            Xfs = xfs;
        }

        public ImageWorkspace Workspace { get; }

        public LoopXfs Xfs { get; }

        /// <summary>The snapshot of each generation.</summary>
        public List<SnapshotRecord> Records { get; } = [];

        public List<string> Ids => Records.ConvertAll(r => r.Id.ToString());

        /// <summary>A cache root on the XFS, where versions can be cloned to and from.</summary>
        public string Cache => Xfs.PathOf("cache");

        public List<ImageState> States { get; } = [];

        /// <summary>The image as of the last generation.</summary>
        public TestImage Image { get; private set; } = null!;

        public static async Task<Lineage> CreateAsync(int generations, int seed)
        {
            var workspace = await ImageWorkspace.CreateAsync();
            LoopXfs? xfs = null;
            try
            {
                xfs = await LoopXfs.CreateAsync();
                var lineage = new Lineage(workspace, xfs);
                var image = lineage.Image = new TestImage(workspace.PathOf("mem.img"), ImageBlocks, seed);
                image.Change(4096, zeroOneIn: 8);
                for (var generation = 0; generation < generations; generation++)
                {
                    if (generation > 0)
                    {
                        image.Change(64, zeroOneIn: 4);
                    }

                    var record = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
                    lineage.Records.Add(record);
                    lineage.States.Add(image.State());
                }

                return lineage;
            }
            catch
            {
                if (xfs is not null)
                {
                    await xfs.DisposeAsync();
                }

                await workspace.DisposeAsync();
                throw;
            }
        }

        /// <summary>Restores generation <paramref name="generation"/> into the XFS through the cache under <paramref name="cacheRoot"/>, and checks it.</summary>
        public Task<RestoreResult> RestoreAsync(int generation, string directory, string cacheRoot, int versions = RestoreOptions.DefaultReflinkCacheVersions) =>
            Workspace.RestoreAndCheckAsync(
                Records[generation],
                States[generation],
                "mem.img",
                Xfs.PathOf(directory),
                new RestoreOptions { ReflinkCache = cacheRoot, ReflinkCacheVersions = versions });

        public async ValueTask DisposeAsync()
        {
            try
            {
                await Xfs.DisposeAsync();
            }
            finally
            {
                await Workspace.DisposeAsync();
            }
        }
    }
}
