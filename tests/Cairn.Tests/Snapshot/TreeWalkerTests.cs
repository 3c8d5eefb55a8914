using System.Collections.Concurrent;
using System.Text;
using Cairn.Native.Linux;
using Cairn.Snapshot;
using Cairn.Tests.Support;
using Cairn.Threading;

namespace Cairn.Tests.Snapshot;

/// <summary>The walker lists directories ahead of the walk, in its order, within a bound.</summary>
public sealed class TreeWalkerTests
{
    [Fact]
    public async Task Listers_run_ahead_depth_first_without_being_asked()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Sub("a/b/c/d"));
        Directory.CreateDirectory(dir.Sub("e/f"));
        using var io = new BlockingIoScheduler(2, "test-list");
        var walker = new TreeWalker(2, io, skipUnreadable: false, new ConcurrentQueue<string>(), new ConcurrentQueue<string>(), CancellationToken.None);

        var root = await walker.ListAsync(new DirectoryHandle(LinuxFile.OpenDirectory(dir.Path), []));

        // Only the root was asked for; a, a/b, a/b/c, a/b/c/d, e and e/f are listed all the same.
        var a = Child(root, "a");
        var b = Child(await Listed(a), "b");
        var c = Child(await Listed(b), "c");
        var d = Child(await Listed(c), "d");
        Assert.Empty(await Listed(d));
        Assert.Equal("f", Encoding.UTF8.GetString(Assert.Single(await Listed(Child(root, "e"))).Name));

        // Asking for a listing that ran ahead returns it, not a second one.
        Assert.Same(a.Listing, walker.ListAsync(a));
    }

    [Fact]
    public async Task At_most_the_limit_runs_ahead_and_the_first_names_go_first()
    {
        using var dir = new TempDir();
        var count = TreeWalker.AheadLimit + 40;
        for (var i = 0; i < count; i++)
        {
            Directory.CreateDirectory(dir.Sub($"d{i:D5}"));
        }

        using var io = new BlockingIoScheduler(2, "test-list");
        var walker = new TreeWalker(2, io, skipUnreadable: false, new ConcurrentQueue<string>(), new ConcurrentQueue<string>(), CancellationToken.None);
        var root = await walker.ListAsync(new DirectoryHandle(LinuxFile.OpenDirectory(dir.Path), []));
        Assert.Equal(count, root.Count);

        var ahead = root.Take(TreeWalker.AheadLimit).Select(c => c.Subdirectory!.Listing).ToArray();
        Assert.All(ahead, Assert.NotNull);
        await Task.WhenAll(ahead!).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(root.Skip(TreeWalker.AheadLimit), c => Assert.Null(c.Subdirectory!.Listing));

        // The walk asking for one of the rest lists it.
        var last = root[^1].Subdirectory!;
        Assert.Empty(await walker.ListAsync(last));
    }

    private static DirectoryHandle Child(List<ChildInfo> children, string name) =>
        children.Single(c => Encoding.UTF8.GetString(c.Name) == name).Subdirectory!;

    /// <summary>
    /// The listing a lister started on its own, once done. A lister queues a directory's subdirectories before it
    /// hands the directory's listing over, so it must have been started by the time the caller has that listing.
    /// </summary>
    private static async Task<List<ChildInfo>> Listed(DirectoryHandle directory)
    {
        Assert.NotNull(directory.Listing);
        return await directory.Listing.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
