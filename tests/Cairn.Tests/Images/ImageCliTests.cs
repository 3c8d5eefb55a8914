using Cairn.Tests.Support;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cairn.Tests.Fuse;

namespace Cairn.Tests.Images;

/// <summary>The image commands through the real <c>cairn</c> executable: snapshot --image, log, fork, inspect, restore.</summary>
public sealed class ImageCliTests
{
    [Fact]
    public async Task Lineages_are_logged_forked_and_inspected()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new TestImage(workspace.PathOf("mem.img"), 2048, seed: 9);
        image.Change(256, zeroOneIn: int.MaxValue);
        var ids = new List<string>();
        for (var generation = 0; generation < 3; generation++)
        {
            using var snapshot = await Json(workspace, "snapshot", "--image", image.Path, "--tag", "vm");
            Assert.Equal("image", snapshot.RootElement.GetProperty("kind").GetString());
            Assert.Equal(generation == 0 ? null : ids[^1], snapshot.RootElement.TryGetProperty("parent", out var p) ? p.GetString() : null);
            ids.Add(snapshot.RootElement.GetProperty("id").GetString()!);
            image.Change(8, zeroOneIn: int.MaxValue);
        }

        using (var log = await Json(workspace, "log", "vm"))
        {
            var chain = log.RootElement.GetProperty("snapshots").EnumerateArray().ToList();
            Assert.Equal(ids.AsEnumerable().Reverse(), chain.Select(s => s.GetProperty("id").GetString()));
            Assert.Equal([2, 1, 0], chain.Select(s => s.GetProperty("depth").GetInt32()));
            Assert.Equal(["vm"], chain[0].GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            Assert.All(chain, s => Assert.Equal("image", s.GetProperty("kind").GetString()));
        }

        var text = await Text(workspace, "log", ids[2]);
        Assert.Contains("3 snapshot(s) from the root", text, StringComparison.Ordinal);
        Assert.All(ids, id => Assert.Contains(id[..12], text, StringComparison.Ordinal));

        // A new line from the middle of the chain: the tag exists once; --force moves it.
        await Text(workspace, "fork", ids[0], "--tag", "line2");
        var (exitCode, _, error) = await CairnCli.RunRawAsync(["-r", workspace.RepositoryPath, "fork", ids[1], "--tag", "line2"]);
        Assert.Equal(2, exitCode);
        Assert.Contains("already exists", error, StringComparison.Ordinal);
        await Text(workspace, "fork", ids[1], "--tag", "line2", "--force");

        using var child = await Json(workspace, "snapshot", "--image", image.Path, "--tag", "line2");
        var childId = child.RootElement.GetProperty("id").GetString()!;
        Assert.Equal(ids[1], child.RootElement.GetProperty("parent").GetString()); // a second child of ids[1]

        using (var inspect = await Json(workspace, "inspect", childId))
        {
            var root = inspect.RootElement;
            Assert.Equal(ids[1], root.GetProperty("parent").GetString());
            var file = Assert.Single(root.GetProperty("files").EnumerateArray().ToList());
            Assert.Equal("mem.img", file.GetProperty("path").GetString());
            var blocks = file.GetProperty("blocks").GetInt64();
            var fresh = file.GetProperty("newBlocks").GetInt64();
            Assert.InRange(fresh, 1, 16); // two generations of 8 changed blocks since ids[1]
            Assert.Equal(blocks - fresh, file.GetProperty("inheritedBlocks").GetInt64());
            Assert.Equal(2048 - blocks, file.GetProperty("holeBlocks").GetInt64());
            Assert.True(root.GetProperty("manifestBytes").GetInt64() > 0);
        }

        var inspectText = await Text(workspace, "inspect", childId);
        Assert.Contains("mem.img", inspectText, StringComparison.Ordinal);
        Assert.Contains("inherited from the parent", inspectText, StringComparison.Ordinal);

        var expected = image.State();
        using var restore = await Json(workspace, "restore", childId, workspace.PathOf("restored"));
        expected.AssertRestoredAs(workspace.PathOf("restored/mem.img"));
    }

    [Fact]
    public async Task Snapshot_takes_a_directory_or_images_not_both()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        new TestImage(workspace.PathOf("mem.img"), 4, seed: 1).Change(1);
        var (exitCode, _, error) = await CairnCli.RunRawAsync(["-r", workspace.RepositoryPath, "snapshot", workspace.Root, "--image", workspace.PathOf("mem.img")]);
        Assert.Equal(2, exitCode);
        Assert.Contains("give one of: a directory, --image FILE...", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--cache-dir and --cache-versions need --reflink", "--cache-dir", "cache")]
    [InlineData("--cache-dir and --cache-versions need --reflink", "--cache-versions", "8")]
    [InlineData("--cache-versions must be at least 1", "--reflink", "--cache-versions", "0")]
    [InlineData("--reflink and --reflink-from cannot be used together", "--reflink", "--reflink-from", "base")]
    public async Task Restore_refuses_reflink_options_that_do_not_go_together(string message, params string[] options)
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var (exitCode, _, error) = await CairnCli.RunRawAsync(["-r", workspace.RepositoryPath, "restore", "latest", workspace.PathOf("restored"), .. options]);
        Assert.Equal(2, exitCode);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(workspace.PathOf("restored")));
    }

    [Fact]
    public async Task Blocks_stored_again_are_reported_by_snapshot_show_and_inspect()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: 256 << 10); // frames of 64 blocks
        var image = new DenseImage(workspace.PathOf("mem.img"), 64, seed: 5);
        var path = image.Path;
        await Text(workspace, "snapshot", "--image", path, "--tag", "vm");
        image.Randomize(0, 40); // the parent now uses 24 blocks of that frame
        await Text(workspace, "snapshot", "--image", path, "--tag", "vm");
        image.Randomize(63, 1); // and of those, 23 are read unchanged

        var snapshot = await Text(workspace, "snapshot", "--image", path, "--tag", "vm");

        Assert.Contains("(and 92.0 KiB stored again, out of frames the lineage mostly no longer uses)", snapshot, StringComparison.Ordinal);
        Assert.Contains("stored again", await Text(workspace, "show", "vm"), StringComparison.Ordinal);
        Assert.Contains("moved     23 inherited blocks stored again", await Text(workspace, "inspect", "vm"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Past_the_bound_a_snapshot_stores_everything_again_and_says_why()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: 256 << 10); // frames of 64 blocks
        var image = new DenseImage(workspace.PathOf("mem.img"), 128, seed: 7);
        var path = image.Path;
        await Text(workspace, "snapshot", "--image", path, "--tag", "vm");
        image.Randomize(0, 12); // the parent leaves 12 of its 128 blocks unused where it still mostly reads: 9.4 %
        await Text(workspace, "snapshot", "--image", path, "--tag", "vm");

        image.Randomize(127, 1);
        var under = await Text(workspace, "snapshot", "--image", path, "--tag", "vm", "--relayout-above", "10");
        Assert.DoesNotContain("stored again whole", under, StringComparison.Ordinal);

        image.Randomize(126, 1); // the parent now leaves 13 blocks unused: 10.2 %, over the default bound
        using var json = await Json(workspace, "snapshot", "--image", path, "--tag", "vm");
        Assert.Equal("bound", json.RootElement.GetProperty("stats").GetProperty("relayout").GetString());
        Assert.Equal(13 * 4096, json.RootElement.GetProperty("relayouts")[0].GetProperty("inheritedUnusedBytes").GetInt64());
        Assert.Equal(127 * 4096, json.RootElement.GetProperty("stats").GetProperty("rewrittenBytes").GetInt64()); // all but the new block

        image.Randomize(125, 1); // a child of the relayout: no unused block to inherit, so no relayout even at 0 %
        Assert.DoesNotContain("stored again whole", await Text(workspace, "snapshot", "--image", path, "--tag", "vm", "--relayout-above", "0"), StringComparison.Ordinal);
        image.Randomize(124, 1); // its child inherits the block that change replaced
        var relaid = await Text(workspace, "snapshot", "--image", path, "--tag", "vm", "--relayout-above", "0");
        Assert.Contains("mem.img stored again whole: the parent's restore of it decompressed 4.0 KiB of unused blocks a child would keep, 0.8 % of its data, over the bound of 0 %", relaid, StringComparison.Ordinal);

        image.Randomize(123, 1);
        await Text(workspace, "snapshot", "--image", path, "--tag", "vm");
        image.Randomize(0, 12);
        Assert.DoesNotContain("stored again whole", await Text(workspace, "snapshot", "--image", path, "--tag", "vm"), StringComparison.Ordinal);
        image.Randomize(122, 1); // the parent leaves 13 blocks unused again, over the default bound: but the bound is off
        Assert.DoesNotContain("stored again whole", await Text(workspace, "snapshot", "--image", path, "--tag", "vm", "--relayout-above", "off"), StringComparison.Ordinal);
        image.Randomize(121, 1);
        Assert.Contains("stored again whole", await Text(workspace, "snapshot", "--image", path, "--tag", "vm"), StringComparison.Ordinal);

        // Unchanged, but left in a frame its parent mostly left: stored again, under the same tree.
        image.Randomize(0, 40);
        await Text(workspace, "snapshot", "--image", path, "--tag", "vm");
        Assert.Contains("stored again whole", await Text(workspace, "snapshot", "--image", path, "--tag", "vm"), StringComparison.Ordinal);
        Assert.Contains("same tree as the parent: one manifest, one layout for both, so every block counts as inherited; this snapshot stored 512.0 KiB of them again (past --relayout-above)", await Text(workspace, "inspect", "vm"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--relayout-above takes a percentage from 0 to 1000, or 'off': '12x'", "--image", "mem.img", "--relayout-above", "12x")]
    [InlineData("--relayout-above applies to image snapshots", ".", "--relayout-above", "5")]
    [InlineData("nope.img': no such file", "--image", "nope.img")]
    [InlineData("nodir/mem.img': no such file", "--image", "nodir/mem.img")]
    [InlineData("mem.img' is a file: a tree snapshot takes a directory (to snapshot a VM image file, use --image)", "mem.img")]
    public async Task Snapshot_refuses_what_it_cannot_use(string message, params string[] arguments)
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        new TestImage(workspace.PathOf("mem.img"), 4, seed: 1).Change(1);
        var (exitCode, _, error) = await CairnCli.RunRawAsync(["-r", workspace.RepositoryPath, "snapshot", .. arguments.Select(a => a.EndsWith(".img", StringComparison.Ordinal) || a == "." ? workspace.PathOf(a) : a)]);
        Assert.Equal(2, exitCode);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [LoopXfsFact]
    public async Task Restores_with_reflink_keep_their_images_and_clone_from_them()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        await using var xfs = await LoopXfs.CreateAsync();
        var image = new TestImage(workspace.PathOf("mem.img"), 2048, seed: 10);
        image.Change(512, zeroOneIn: int.MaxValue);
        await Text(workspace, "snapshot", "--image", image.Path, "--tag", "vm");
        image.Change(8, zeroOneIn: int.MaxValue);
        var expected = image.State();
        using var next = await Json(workspace, "snapshot", "--image", image.Path, "--tag", "vm");
        var id = next.RootElement.GetProperty("id").GetString()!;
        var parent = next.RootElement.GetProperty("parent").GetString()!;
        var cache = xfs.PathOf("cache");

        // The parent first: nothing to clone from yet, and its images are kept.
        await Text(workspace, "restore", parent, xfs.PathOf("v1"), "--reflink", "--cache-dir", cache);
        using var restore = await Json(workspace, "restore", id, xfs.PathOf("v2"), "--reflink", "--cache-dir", cache);
        Assert.Equal(parent, restore.RootElement.GetProperty("clonedFrom").GetString());
        Assert.True(restore.RootElement.GetProperty("bytesCloned").GetInt64() > 0);
        Assert.Empty(restore.RootElement.GetProperty("warnings").EnumerateArray());
        expected.AssertRestoredAs(xfs.PathOf("v2/mem.img"));

        var text = await Text(workspace, "restore", "vm", xfs.PathOf("v3"), "--reflink", "--cache-dir", cache, "--cache-versions", "1");
        Assert.Contains($"cloned from {id[..12]})", text, StringComparison.Ordinal);
        expected.AssertRestoredAs(xfs.PathOf("v3/mem.img"));
        var versions = Directory.GetDirectories(Path.Combine(Directory.GetDirectories(cache).Single(), "images"));
        Assert.Equal([id], versions.Select(Path.GetFileName)); // --cache-versions 1: the parent's version evicted
    }

    /// <summary>
    /// cairn diff says how much of a modified image changed: exactly its changed blocks, those replaced, written into a
    /// hole, or zeroed (it said only "M vm.img").
    /// </summary>
    [Fact]
    public async Task Diff_of_two_image_snapshots_gives_the_bytes_of_the_blocks_that_changed()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new DenseImage(workspace.PathOf("vm.img"), 64, seed: 8);
        await Text(workspace, "snapshot", "--image", image.Path, "--tag", "a");
        image.Randomize(10, 5); // 5 blocks replaced
        image.Data.AsSpan(40 * TestImage.Block, 2 * TestImage.Block).Clear(); // 2 zeroed
        image.Write();
        await File.WriteAllBytesAsync(workspace.PathOf("other.img"), new byte[TestImage.Block]); // an image added
        await Text(workspace, "snapshot", "--image", image.Path, workspace.PathOf("other.img"), "--tag", "b", "--parent", "a");

        var text = await Text(workspace, "diff", "a", "b");
        using var json = await Json(workspace, "diff", "a", "b");

        Assert.Equal(["+ other.img", "M vm.img  (28.0 KiB changed)"], text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
        var changed = json.RootElement.EnumerateArray().Single(c => c.GetProperty("path").GetString() == "vm.img");
        Assert.Equal(7 * TestImage.Block, changed.GetProperty("changedBytes").GetInt64());

        // A requested relayout says so (it gave the reason of a bound's copy: "out of frames the lineage mostly no
        // longer uses"): vm.img's 62 blocks that are not zero.
        Assert.Contains("(and 248.0 KiB stored again: --relayout)", await Text(workspace, "snapshot", "--image", image.Path, workspace.PathOf("other.img"), "--tag", "r", "--parent", "b", "--relayout"), StringComparison.Ordinal);

        // Touched, not changed: said as such (it said "0 B changed").
        File.SetLastWriteTimeUtc(image.Path, DateTime.UtcNow.AddHours(-1));
        await Text(workspace, "snapshot", "--image", image.Path, workspace.PathOf("other.img"), "--tag", "c", "--parent", "b");
        Assert.Equal("M vm.img  (same data: metadata or holes changed)", (await Text(workspace, "diff", "b", "c")).TrimEnd());
    }

    /// <summary>An image block size init cannot use is bad usage (exit 2), said as such; it read as a broken repository and exited 1.</summary>
    [Theory]
    [InlineData("3K")]
    [InlineData("2M")]
    public async Task Init_refuses_an_image_block_size_it_cannot_use(string size)
    {
        using var temp = new TempDir();
        var (exitCode, _, error) = await CairnCli.RunRawAsync(["-r", temp.Sub("repo"), "init", "--image-block-size", size]);
        Assert.Equal(2, exitCode);
        Assert.Equal($"cairn: --image-block-size {size}: need a power of two from 4.0 KiB to 1.0 MiB", error.TrimEnd());
        Assert.False(Directory.Exists(temp.Sub("repo")));
    }

    /// <summary>
    /// A lineage keeps its kind: a tree snapshot named as an image snapshot's parent (by --parent or by the tag that
    /// would pick it) is refused, and the reverse; it was taken, and the image run then weighed its blocks against the
    /// tree's frames and said it stored them "again".
    /// </summary>
    [Fact]
    public async Task A_snapshot_of_one_kind_refuses_a_parent_of_the_other()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new TestImage(workspace.PathOf("vm.img"), 16, seed: 4);
        image.Change(4);
        var tree = Directory.CreateDirectory(workspace.PathOf("tree")).FullName;
        await File.WriteAllTextAsync(Path.Combine(tree, "a"), "a");
        using var treeSnapshot = await Json(workspace, "snapshot", tree, "--tag", "t");
        using var imageSnapshot = await Json(workspace, "snapshot", "--image", image.Path, "--tag", "vm");
        var treeId = treeSnapshot.RootElement.GetProperty("id").GetString()!;
        var imageId = imageSnapshot.RootElement.GetProperty("id").GetString()!;

        foreach (var (arguments, expected) in new (string[], string)[]
        {
            (["snapshot", "--image", image.Path, "--parent", "t"], $"--parent t names {treeId[..12]}, a tree snapshot: the parent of an image snapshot must be one too"),
            (["snapshot", "--image", image.Path, "--tag", "t"], $"the tag 't' names {treeId[..12]}, a tree snapshot: the parent of an image snapshot must be one too"),
            (["snapshot", tree, "--parent", imageId], $"--parent {imageId} names {imageId[..12]}, an image snapshot: the parent of a tree snapshot must be one too (give --parent none to start a new lineage)"),
        })
        {
            var (exitCode, _, error) = await CairnCli.RunRawAsync(["-r", workspace.RepositoryPath, .. arguments]);
            Assert.Equal(2, exitCode);
            Assert.Contains(expected, error, StringComparison.Ordinal);
        }

        using var newLineage = await Json(workspace, "snapshot", "--image", image.Path, "--tag", "t", "--parent", "none");
        Assert.False(newLineage.RootElement.TryGetProperty("parent", out _));
    }

    /// <summary>
    /// The summary counts what is not stored as data, holes included (it said "0 B of zero blocks" for an image that
    /// was mostly holes), says when there is no parent, and counts one image as one.
    /// </summary>
    [Fact]
    public async Task The_snapshot_summary_counts_holes_and_zero_blocks_and_says_when_there_is_no_parent()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var path = workspace.PathOf("vm.img");
        using (var file = File.Create(path))
        {
            file.SetLength(256 * TestImage.Block); // 1 MiB of holes
            file.Write(RandomNumberGenerator.GetBytes(8 * TestImage.Block)); // 8 blocks of data
            file.Write(new byte[TestImage.Block]); // and one of zeros, allocated
        }

        var first = await Text(workspace, "snapshot", "--image", path, "--tag", "vm");
        Assert.Contains("  1 image, 1.0 MiB (no parent); 992.0 KiB of holes and zero blocks not stored", first, StringComparison.Ordinal);

        Assert.Contains("  reads     1 frame of 1 pack: ", await Text(workspace, "inspect", "vm"), StringComparison.Ordinal); // "1 frames of 1 packs"
        var second = await Text(workspace, "snapshot", "--image", path, "--tag", "vm");
        Assert.Matches(@"  1 image, 1\.0 MiB \(1 of 1 unchanged since parent [0-9a-f]{12}\); 992\.0 KiB of holes and zero blocks not stored", second);
    }

    private static async Task<string> Text(ImageWorkspace workspace, params string[] arguments) =>
        await CairnCli.RunTextAsync(["-r", workspace.RepositoryPath, .. arguments]);

    private static async Task<JsonDocument> Json(ImageWorkspace workspace, params string[] arguments) =>
        JsonDocument.Parse(Encoding.UTF8.GetBytes(await Text(workspace, [.. arguments, "--json"])));
}
