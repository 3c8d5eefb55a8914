using Cairn.Format;
using Cairn.Inspection;
using Cairn.Manifests;
using Cairn.Repository;
using Cairn.Snapshot;
using Cairn.Storage;
using Cairn.Tests.Support;

namespace Cairn.Tests.Images;

/// <summary>
/// The copies <c>ParentLayout</c> makes are the ones its manifest uses, made once: not for a block an unchanged image
/// pins where the parent has it, not again after an interrupted run (nor after an interrupted relayout); and in an
/// image run, for a block that comes back from a frame the lineage left, but not in a tree run.
/// </summary>
public sealed class ParentLayoutTests
{
    private const int Block = TestImage.Block;
    private const int FrameSize = 256 << 10; // 64 blocks

    /// <summary>
    /// Two images share 8 blocks; after generation 1 the first frame holds little else the parent uses. The image read
    /// again copies the shared blocks once, and the unchanged one (taken over unread) uses the copies too, whichever of
    /// the two comes first in the snapshot: the manifest names where the run left a chunk, not where a file first found it.
    /// </summary>
    [Theory]
    [InlineData("a.img", "b.img")] // the unchanged image first
    [InlineData("z.img", "b.img")] // the unchanged image last
    public async Task Blocks_an_unchanged_image_shares_with_a_changed_one_are_copied_at_most_once_and_only_to_be_used(string unchangedName, string changedName)
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var random = new Random(1);
        var shared = new byte[8 * Block];
        random.NextBytes(shared);
        var unchanged = workspace.PathOf(unchangedName);
        var changed = workspace.PathOf(changedName);
        File.WriteAllBytes(unchanged, shared);
        var data = new byte[64 * Block];
        shared.CopyTo(data, 0);
        random.NextBytes(data.AsSpan(shared.Length));
        File.WriteAllBytes(changed, data);

        long copied = 0;
        for (var generation = 0; generation < 6; generation++)
        {
            if (generation == 1)
            {
                random.NextBytes(data.AsSpan(shared.Length)); // all of its own blocks: the first frames now hold little the parent uses
            }
            else if (generation > 1)
            {
                random.NextBytes(data.AsSpan(data.Length - Block)); // one block
            }

            File.WriteAllBytes(changed, data);
            // ParentLayout's copies alone: an image this small passes any bound on its own (a block of 9 unused is 11 %).
            var snapshot = (await workspace.SnapshotAsync([unchanged, changed], new SnapshotOptions { Parent = SnapshotOptions.AutoParent, Tags = ["vm"], RelayoutAbove = null })).Snapshot;
            var maps = (await SnapshotInspection.InspectAsync(workspace.Repository, snapshot)).Files;
            copied += snapshot.Stats.RewrittenBytes ?? 0;

            // Every copy this run made is one its manifest uses.
            Assert.True(maps.Sum(m => m.MovedBytes) >= (snapshot.Stats.RewrittenBytes ?? 0), $"generation {generation}: {snapshot.Stats.RewrittenBytes} bytes copied, {maps.Sum(m => m.MovedBytes)} used outside the parent's frames");
        }

        Assert.True(copied <= shared.Length, $"{copied} bytes copied in all, for {shared.Length} bytes shared");
    }

    [Fact]
    public async Task A_block_back_to_older_content_leaves_the_frame_the_parent_left_with_the_parents_blocks()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var image = new DenseImage(workspace.PathOf("mem.img"), 64, seed: 2);
        var path = image.Path;
        var first = image.Data[..Block];
        await workspace.SnapshotAsync([path], tags: "vm");

        image.Randomize(0, 40); // the first frame is now mostly unused by the parent
        await workspace.SnapshotAsync([path], tags: "vm");

        first.CopyTo(image.Data, 0); // the first block as in generation 0: a chunk the repository has and the parent does not use
        image.Write();
        var snapshot = (await workspace.SnapshotAsync([path], tags: "vm")).Snapshot;
        var map = (await SnapshotInspection.InspectAsync(workspace.Repository, snapshot)).Files[0];

        // The parent's 24 blocks in that frame move, and the block that came back goes with them: referenced there,
        // it would keep a restore decompressing the frame they left.
        Assert.Equal(25L * Block, snapshot.Stats.RewrittenBytes);
        Assert.Equal(24L * Block, map.MovedBytes); // moved: the parent's blocks, stored again out of its frames
        Assert.Equal(Block, map.NewBytes); // new against the parent, though the repository had it
        Assert.Equal(map.DistinctBytes + Block, map.DecodedBytes); // all but generation 1's first block, which this change replaced
        await workspace.RestoreAndCheckAsync(snapshot, ImageState.Of(path), "mem.img");
    }

    /// <summary>
    /// A block that comes back after the lineage left the frame it was stored in (two pages written in generation 1,
    /// both replaced in generation 2) is stored again, once, even by a run that was interrupted after writing its
    /// packs; a restore decompresses nothing of the old frame for it.
    /// </summary>
    [Fact]
    public async Task A_block_that_comes_back_is_stored_again_out_of_a_frame_the_parent_does_not_use()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var image = new DenseImage(workspace.PathOf("mem.img"), 128, seed: 6);
        var path = image.Path;
        var root = (await workspace.SnapshotAsync([path], tags: "vm")).Snapshot;
        image.Randomize(100, 2);
        var page = image.Data[(100 * Block)..(101 * Block)];
        var withPage = (await workspace.SnapshotAsync([path], tags: "vm")).Snapshot;
        image.Randomize(100, 2);
        await workspace.SnapshotAsync([path], tags: "vm");
        var rootFrames = FramesOf(await workspace.Repository.ReadManifestAsync(root));
        var pageFrames = FramesOf(await workspace.Repository.ReadManifestAsync(withPage)).Except(rootFrames).ToHashSet();
        Assert.Single(pageFrames);

        page.CopyTo(image.Data, 10 * Block); // the page back, elsewhere, with one new block
        image.Randomize(20, 1);
        var options = new SnapshotOptions { Parent = SnapshotOptions.AutoParent, Tags = ["vm"] };
        var packs = Directory.GetFiles(Path.Combine(workspace.RepositoryPath, "packs"), "*", SearchOption.AllDirectories).Length;
        await using (var failing = await Cairn.Repository.Repository.OpenAsync(new FailAfterPacksStore(new LocalObjectStore(workspace.RepositoryPath))))
        {
            var interrupted = new Archiver(failing, options).SnapshotImagesAsync([path]);
            await Assert.ThrowsAsync<IOException>(() => interrupted);
        }

        Assert.Equal(packs + 1, Directory.GetFiles(Path.Combine(workspace.RepositoryPath, "packs"), "*", SearchOption.AllDirectories).Length);
        var snapshot = (await workspace.SnapshotAsync([path], options)).Snapshot;
        var manifest = await workspace.Repository.ReadManifestAsync(snapshot);
        var map = (await SnapshotInspection.InspectAsync(workspace.Repository, snapshot)).Files[0];

        Assert.Null(snapshot.Stats.RewrittenBytes); // the interrupted run made the copy: this one uses it
        Assert.Equal(packs + 1, Directory.GetFiles(Path.Combine(workspace.RepositoryPath, "packs"), "*", SearchOption.AllDirectories).Length);
        Assert.Equal(2 * Block, map.NewBytes);
        Assert.DoesNotContain(FramesOf(manifest), pageFrames.Contains);
        await workspace.RestoreAndCheckAsync(snapshot, ImageState.Of(path), "mem.img");
    }

    /// <summary>
    /// An image relaid out past the bound stores again the blocks it shares with another image of the snapshot, once:
    /// the other image, read after it, finds them in this run's frames, though its parent left them in a frame it
    /// mostly no longer uses (where they would be copied again).
    /// </summary>
    [Fact]
    public async Task A_block_two_images_share_is_stored_again_once_when_one_is_relaid_out()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var a = new DenseImage(workspace.PathOf("a.img"), 128, seed: 11);
        var b = new DenseImage(workspace.PathOf("b.img"), 16, seed: 12);
        a.Data.AsSpan(120 * Block, 8 * Block).CopyTo(b.Data); // b's first 8 blocks are a's last 8
        b.Write();
        string[] images = [a.Path, b.Path];
        await workspace.SnapshotAsync(images, tags: "vm");
        a.Randomize(64, 56); // a's second frame now holds little but the 8 shared blocks
        a.Randomize(0, 12); // and its first leaves 12 blocks unused: a is past the bound
        await workspace.SnapshotAsync(images, tags: "vm");
        b.Randomize(15, 1);

        var result = await workspace.SnapshotAsync(images, tags: "vm");

        Assert.Equal("a.img", Assert.Single(result.Relayouts).Image);
        Assert.Equal(128L * Block, result.Snapshot.Stats.RewrittenBytes); // all of a, the shared blocks among them, and nothing of b
        var inspection = await SnapshotInspection.InspectAsync(workspace.Repository, result.Snapshot);
        var map = Assert.Single(inspection.Files, f => f.Path == "a.img");
        Assert.Equal(map.DistinctBytes, map.DecodedBytes); // a's frames hold a's blocks, the shared ones with them
        await workspace.RestoreAndCheckAsync(result.Snapshot, ImageState.Of(a.Path), "a.img");
        ImageState.Of(b.Path).AssertRestoredAs(workspace.PathOf("restored/b.img"));
    }

    /// <summary>
    /// An image taken over unread moves nothing: past the bound it is judged by every frame and segment it touches,
    /// not only those a child that read it would keep, and relaid out.
    /// </summary>
    [Fact]
    public async Task An_unchanged_image_in_frames_its_parent_mostly_left_is_relaid_out()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var image = new DenseImage(workspace.PathOf("mem.img"), 64, seed: 13);
        await workspace.SnapshotAsync([image.Path], tags: "vm");
        image.Randomize(0, 40); // the first frame: 24 blocks of 64 still used, not moved (the grandparent used it all)
        await workspace.SnapshotAsync([image.Path], tags: "vm");

        var result = await workspace.SnapshotAsync([image.Path], tags: "vm"); // unchanged

        Assert.Equal("mem.img", Assert.Single(result.Relayouts).Image);
        Assert.Equal(0, result.Snapshot.Stats.UnchangedFiles); // read, to be stored again
        var map = (await SnapshotInspection.InspectAsync(workspace.Repository, result.Snapshot)).Files[0];
        Assert.Equal(map.DistinctBytes, map.DecodedBytes);
        await workspace.RestoreAndCheckAsync(result.Snapshot, ImageState.Of(image.Path), "mem.img");
    }

    /// <summary>
    /// A small image with a block in a memory image's frame carries a share of the unused bytes there by its use, not
    /// all of them: a vmstate file of 2 blocks, one of which the memory image holds, beside a memory image whose
    /// parent version leaves 12 blocks unused in that frame (or segment), is not taken to leave 6 times its size.
    /// </summary>
    [Fact]
    public async Task A_frame_two_images_share_counts_for_each_by_its_use()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var memory = new DenseImage(workspace.PathOf("mem.img"), 128, seed: 15);
        var state = new DenseImage(workspace.PathOf("vmstate.bin"), 2, seed: 16);
        memory.Data.AsSpan(30 * Block, Block).CopyTo(state.Data); // one block of the memory image's first frame
        state.Write();
        string[] images = [memory.Path, state.Path];
        var options = new SnapshotOptions { Parent = SnapshotOptions.AutoParent, Tags = ["vm"], RelayoutAbove = 0.5 };
        await workspace.SnapshotAsync(images, options);
        memory.Randomize(0, 12); // 12 blocks of that frame (or of its first segment) left unused
        await workspace.SnapshotAsync(images, options);
        memory.Randomize(127, 1);

        var result = await workspace.SnapshotAsync(images, options);

        // The memory image: 12 blocks of 128 (9.4 %). The vmstate file: its 1 block's share of 12 unused among 20 or
        // 52 used (30 % or 11.5 % of its 2 blocks), under the bound of 50 %; all 12 would be 600 %.
        Assert.Empty(result.Relayouts);
        Assert.Equal(1, result.Snapshot.Stats.UnchangedFiles);
    }

    /// <summary>
    /// What the parent leaves unused is not known where a frame's head cannot be read (a store error): no image is
    /// relaid out on a guess. The next snapshot, on a store that answers, is.
    /// </summary>
    [Fact]
    public async Task No_image_is_relaid_out_when_a_frame_of_the_parent_cannot_be_asked()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var image = new DenseImage(workspace.PathOf("mem.img"), 128, seed: 14);
        await workspace.SnapshotAsync([image.Path], tags: "vm");
        image.Randomize(0, 12); // the parent leaves 12 of 128 blocks unused where a child keeps reading: 9.4 %
        await workspace.SnapshotAsync([image.Path], tags: "vm");
        image.Randomize(127, 1);

        // As a Cairn before SEGMENTSIZES wrote it: the heads must be read.
        await ForgetSegmentSizesAsync(workspace.Repository, (await workspace.Repository.ListSnapshotsAsync())[^1]);
        var options = new SnapshotOptions { Parent = SnapshotOptions.AutoParent, Tags = ["vm"] };
        await using (var failing = await Cairn.Repository.Repository.OpenAsync(new FailHeadReadsStore(new LocalObjectStore(workspace.RepositoryPath))))
        {
            var guessed = await new Archiver(failing, options).SnapshotImagesAsync([image.Path]);
            Assert.Empty(guessed.Relayouts);
            Assert.Null(guessed.Snapshot.Stats.Relayout);
        }

        image.Randomize(126, 1);
        var known = await workspace.SnapshotAsync([image.Path], options);
        Assert.Equal("mem.img", Assert.Single(known.Relayouts).Image);
    }

    /// <summary>
    /// A run records in its manifest (SEGMENTSIZES) the segment size of every frame it wrote or learnt about: from the
    /// parent's manifest, or from the frame's head where the parent's manifest does not say it (one written before the
    /// section existed). So a child of a manifest this Cairn wrote reads no head, and what is recorded is what the heads say.
    /// </summary>
    [Fact]
    public async Task A_run_records_the_segment_sizes_it_learns_and_its_child_reads_no_frame_head()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var (image, parent) = await TwoGenerationsAsync(workspace, seed: 21);
        var parentManifest = await workspace.Repository.ReadManifestAsync(parent);
        Assert.True(Asked(parentManifest) > 0, "the parent leaves part of a frame unused");
        await AssertRecordedAsTheHeadsSayAsync(workspace.Repository, parentManifest, everyFrame: true);

        image.Randomize(100, 4);
        var (child, heads) = await SnapshotCountingHeadReadsAsync(workspace, image.Path);
        Assert.Equal(0, heads);
        var childManifest = await workspace.Repository.ReadManifestAsync(child);
        await AssertRecordedAsTheHeadsSayAsync(workspace.Repository, childManifest, everyFrame: true);

        // The child's manifest as a Cairn before SEGMENTSIZES wrote it: its own child reads the heads of the frames it
        // asks about, once, and records them.
        await ForgetSegmentSizesAsync(workspace.Repository, child);
        image.Randomize(64, 30);
        var (grandchild, read) = await SnapshotCountingHeadReadsAsync(workspace, image.Path);
        Assert.True(Asked(childManifest) > 0, "the child leaves part of a frame unused");
        Assert.Equal(Asked(childManifest), read);
        var grandchildManifest = await workspace.Repository.ReadManifestAsync(grandchild);
        await AssertRecordedAsTheHeadsSayAsync(workspace.Repository, grandchildManifest, everyFrame: false);
        var usedByChild = childManifest.UsedBytesByFrame();
        var readHeads = Enumerable.Range(0, childManifest.Frames.Length)
            .Where(f => Cairn.Repository.Repository.AsksSegmentSize(childManifest.Frames[f], usedByChild[f]))
            .Select(f => (childManifest.Packs[childManifest.Frames[f].Pack], childManifest.Frames[f].Offset)).ToHashSet();
        var recorded = Enumerable.Range(0, grandchildManifest.Frames.Length)
            .Where(f => readHeads.Contains((grandchildManifest.Packs[grandchildManifest.Frames[f].Pack], grandchildManifest.Frames[f].Offset))).ToList();
        Assert.NotEmpty(recorded);
        Assert.All(recorded, f => Assert.True(grandchildManifest.KnownSegmentSize(f) >= 0, $"frame {f}, whose head was read, is recorded"));
        await workspace.RestoreAndCheckAsync(grandchild, ImageState.Of(image.Path), "mem.img");
    }

    /// <summary>An image snapshot (parent: auto, tag vm) through a store that counts the heads of frames read.</summary>
    private static async Task<(SnapshotRecord Snapshot, int HeadReads)> SnapshotCountingHeadReadsAsync(ImageWorkspace workspace, string image)
    {
        var counting = new HeadReadCountingStore(new LocalObjectStore(workspace.RepositoryPath));
        await using var repository = await Cairn.Repository.Repository.OpenAsync(counting);
        var result = await new Archiver(repository, new SnapshotOptions { Parent = SnapshotOptions.AutoParent, Tags = ["vm"] }).SnapshotImagesAsync([image]);
        return (result.Snapshot, counting.HeadReads);
    }

    /// <summary>
    /// Every segment size <paramref name="m"/> records is the one its frame's head declares, and (<paramref name="everyFrame"/>)
    /// every frame has one.
    /// </summary>
    private static async Task AssertRecordedAsTheHeadsSayAsync(Cairn.Repository.Repository repository, Manifest m, bool everyFrame)
    {
        Assert.NotNull(m.SegmentSizes);
        for (var f = 0; f < m.Frames.Length; f++)
        {
            var head = new byte[FrameSegments.HeadSize];
            await repository.Store.ReadRangeAsync(ObjectKeys.Pack(m.Packs[m.Frames[f].Pack]), m.Frames[f].Offset, head);
            if (everyFrame || m.KnownSegmentSize(f) >= 0)
            {
                Assert.Equal(FrameSegments.SegmentSizeOf(head), m.KnownSegmentSize(f));
            }
        }
    }

    /// <summary>A tree references a chunk another lineage stored where it is: files shared across workspaces are what deduplication saves.</summary>
    [Fact]
    public async Task A_tree_references_where_they_are_the_chunks_another_lineage_stored()
    {
        await using var workspace = await Workspace.CreateAsync(Workspace.SmallPacks);
        var first = workspace.Dir.CreateSub("first");
        var second = workspace.Dir.CreateSub("second");
        var shared = new byte[64 << 10];
        new Random(8).NextBytes(shared);
        System.IO.File.WriteAllBytes(Path.Combine(first, "shared.bin"), shared);
        System.IO.File.WriteAllBytes(Path.Combine(second, "own.bin"), [.. shared.Reverse()]);
        await workspace.SnapshotAsync(first);
        await workspace.SnapshotAsync(second);

        System.IO.File.WriteAllBytes(Path.Combine(second, "shared.bin"), shared);
        var snapshot = (await workspace.SnapshotAsync(second, new SnapshotOptions { Parent = SnapshotOptions.AutoParent })).Snapshot;

        Assert.NotNull(snapshot.Parent);
        Assert.Equal(0, snapshot.Stats.NewBytes);
        Assert.Null(snapshot.Stats.RewrittenBytes);
    }

    [Fact]
    public async Task A_run_after_an_interrupted_one_uses_the_copies_it_made()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var (image, _) = await TwoGenerationsAsync(workspace, seed: 3);
        var path = image.Path;

        // The next snapshot copies the first frame's 24 remaining blocks, writes its pack, and fails to write its index
        // object and manifest: the pack is an orphan, found again by the next run from its trailer.
        image.Randomize(100, 1);
        await using (var failing = await Cairn.Repository.Repository.OpenAsync(new FailAfterPacksStore(new LocalObjectStore(workspace.RepositoryPath))))
        {
            await Assert.ThrowsAsync<IOException>(() => new Archiver(failing, new SnapshotOptions { Parent = SnapshotOptions.AutoParent, Tags = ["vm"] }).SnapshotImagesAsync([path]));
        }

        var packs = Directory.GetFiles(Path.Combine(workspace.RepositoryPath, "packs"), "*", SearchOption.AllDirectories).Length;
        var snapshot = (await workspace.SnapshotAsync([path], tags: "vm")).Snapshot;
        var map = (await SnapshotInspection.InspectAsync(workspace.Repository, snapshot)).Files[0];

        Assert.Null(snapshot.Stats.RewrittenBytes);
        Assert.Equal(0, snapshot.Stats.NewBytes);
        Assert.Equal(packs, Directory.GetFiles(Path.Combine(workspace.RepositoryPath, "packs"), "*", SearchOption.AllDirectories).Length);
        Assert.Equal(24L * Block, map.MovedBytes); // the interrupted run's copies, used
        await workspace.RestoreAndCheckAsync(snapshot, ImageState.Of(path), "mem.img");
    }

    /// <summary>
    /// Trees go the same way for the files a snapshot reads: files read again (touched, same content) whose chunks
    /// sit in a frame the parent mostly left are stored again; files left unread keep theirs.
    /// </summary>
    [Fact]
    public async Task A_tree_moves_the_chunks_of_the_files_it_reads_again_and_restores_exactly()
    {
        await using var workspace = await Workspace.CreateAsync(Workspace.SmallPacks); // 256 KiB frames
        var source = workspace.Dir.CreateSub("src");
        var random = new Random(4);
        string File(int i) => Path.Combine(source, $"f{i:D2}");
        byte[] Content() { var b = new byte[8 << 10]; random.NextBytes(b); return b; }
        for (var i = 0; i < 32; i++)
        {
            System.IO.File.WriteAllBytes(File(i), Content()); // 32 files of 8 KiB: one frame
        }

        var withParent = new SnapshotOptions { Parent = SnapshotOptions.AutoParent };
        await workspace.SnapshotAsync(source);
        for (var i = 0; i < 24; i++)
        {
            System.IO.File.WriteAllBytes(File(i), Content()); // the parent now uses a quarter of that frame
        }

        await workspace.SnapshotAsync(source, withParent);
        for (var i = 24; i < 28; i++)
        {
            System.IO.File.SetLastWriteTimeUtc(File(i), DateTime.UtcNow.AddMinutes(1)); // read again, same content
        }

        var snapshot = (await workspace.SnapshotAsync(source, withParent)).Snapshot;
        var map = (await SnapshotInspection.InspectAsync(workspace.Repository, snapshot)).Files[0];

        Assert.Equal(4L * (8 << 10), snapshot.Stats.RewrittenBytes); // the 4 files read again; the 4 left unread stay
        Assert.Equal(snapshot.Stats.RewrittenBytes, map.MovedBytes);
        Assert.Equal(0, snapshot.Stats.NewBytes);
        var target = workspace.Dir.Sub("out");
        await workspace.RestoreAsync(snapshot, target);
        TreeComparer.AssertEqual(source, target);
    }

    [Fact]
    public async Task An_interrupted_relayout_leaves_the_manifest_its_tree_has_and_the_rerun_uses_its_copies()
    {
        await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
        var (image, parent) = await TwoGenerationsAsync(workspace, seed: 5);
        var path = image.Path;
        var manifestKey = ObjectKeys.Manifest(ContentId.Parse(parent.Tree));
        var before = await workspace.Repository.Store.ReadAllAsync(manifestKey);
        var relayout = new SnapshotOptions { Parent = SnapshotOptions.AutoParent, Tags = ["vm"], Relayout = true };

        // A relayout of the unchanged image whose index object cannot be written: its packs are, but the manifest the
        // parent reads (the same tree) must not name packs no index object lists.
        await using (var failing = await Cairn.Repository.Repository.OpenAsync(new FailIndexStore(new LocalObjectStore(workspace.RepositoryPath))))
        {
            await Assert.ThrowsAsync<IOException>(() => new Archiver(failing, relayout).SnapshotImagesAsync([path]));
        }

        Assert.Equal(before, await workspace.Repository.Store.ReadAllAsync(manifestKey));

        // The rerun finds the interrupted run's packs and uses its copies: it copies nothing (the same copies again
        // would make the same packs, uploaded for nothing).
        var packs = Directory.GetFiles(Path.Combine(workspace.RepositoryPath, "packs"), "*", SearchOption.AllDirectories).Length;
        var relaid = (await new Archiver(workspace.Repository, relayout).SnapshotImagesAsync([path])).Snapshot;
        Assert.Null(relaid.Stats.RewrittenBytes);
        Assert.Equal(0, relaid.Stats.NewBytes);
        Assert.Equal(packs, Directory.GetFiles(Path.Combine(workspace.RepositoryPath, "packs"), "*", SearchOption.AllDirectories).Length);
        Assert.Equal(parent.Id.ToString(), relaid.Parent);
        Assert.NotEqual(before, await workspace.Repository.Store.ReadAllAsync(manifestKey));
        var result = await workspace.RestoreAndCheckAsync(relaid, ImageState.Of(path), "mem.img");
        var m = await workspace.Repository.ReadManifestAsync(relaid);
        Assert.Equal(m.Chunks.Sum(c => (long)c.Length), result.BytesDecompressed); // fresh frames: nothing else in them
    }

    private static HashSet<(ContentId Pack, long Offset)> FramesOf(Manifest m) => m.Frames.Select(f => (m.Packs[f.Pack], f.Offset)).ToHashSet();

    /// <summary>How many frames of <paramref name="m"/> a child asks the segment size of.</summary>
    private static int Asked(Manifest m)
    {
        var used = m.UsedBytesByFrame();
        return Enumerable.Range(0, m.Frames.Length).Count(f => Cairn.Repository.Repository.AsksSegmentSize(m.Frames[f], used[f]));
    }

    /// <summary>Rewrites the manifest of <paramref name="snapshot"/> without SEGMENTSIZES, as a Cairn before the section wrote it (same tree, same key).</summary>
    private static async Task ForgetSegmentSizesAsync(Cairn.Repository.Repository repository, SnapshotRecord snapshot)
    {
        var m = await repository.ReadManifestAsync(snapshot);
        Assert.NotNull(m.SegmentSizes);
        var older = new Manifest(m.Entries, m.Strings, m.Xattrs, m.ChunkRefs, m.Chunks, m.Packs, m.Frames, m.Locations, m.Sources, segmentSizes: null);
        await repository.Store.PutAsync(ObjectKeys.Manifest(m.TreeHash), ManifestCodec.Encode(older));
        Assert.Null((await repository.ReadManifestAsync(snapshot)).SegmentSizes);
    }

    /// <summary>A real local store that counts the small ranged reads of packs: the heads of frames.</summary>
    private sealed class HeadReadCountingStore(IObjectStore inner) : DelegatingStore(inner)
    {
        private int _headReads;

        public int HeadReads { get => Volatile.Read(ref _headReads); set => Volatile.Write(ref _headReads, value); }

        public override ValueTask ReadRangeAsync(string key, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (key.StartsWith(ObjectKeys.PacksPrefix, StringComparison.Ordinal) && buffer.Length <= FrameSegments.HeadSize)
            {
                Interlocked.Increment(ref _headReads);
            }

            return base.ReadRangeAsync(key, offset, buffer, cancellationToken);
        }
    }

    /// <summary>A real local store whose small ranged reads of packs fail: the heads of frames, which say whether they are segmented.</summary>
    private sealed class FailHeadReadsStore(IObjectStore inner) : DelegatingStore(inner)
    {
        public override ValueTask ReadRangeAsync(string key, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            key.StartsWith(ObjectKeys.PacksPrefix, StringComparison.Ordinal) && buffer.Length <= FrameSegments.HeadSize
                ? throw new StoreException(key, $"injected failure reading {key}")
                : base.ReadRangeAsync(key, offset, buffer, cancellationToken);
    }

    /// <summary>A real local store that fails every index object: a run's packs are stored, and nothing after them that waits for its index.</summary>
    private sealed class FailIndexStore(IObjectStore inner) : DelegatingStore(inner)
    {
        public override ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default) =>
            key.StartsWith(ObjectKeys.IndexPrefix, StringComparison.Ordinal)
                ? throw new IOException($"injected failure writing {key}")
                : base.PutAsync(key, data, condition, cancellationToken);
    }

    /// <summary>Two snapshots of a 128-block image (two frames): the second replaces its first 40 blocks, so the parent uses 24 of the first frame's 64.</summary>
    private static async Task<(DenseImage Image, SnapshotRecord Parent)> TwoGenerationsAsync(ImageWorkspace workspace, int seed)
    {
        var image = new DenseImage(workspace.PathOf("mem.img"), 128, seed);
        await workspace.SnapshotAsync([image.Path], tags: "vm");
        image.Randomize(0, 40);
        return (image, (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot);
    }

    /// <summary>A real local store that takes packs and fails every index object and manifest, as a crash right after the packs would leave it.</summary>
    private sealed class FailAfterPacksStore(IObjectStore inner) : DelegatingStore(inner)
    {
        public override ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default) =>
            key.StartsWith(ObjectKeys.IndexPrefix, StringComparison.Ordinal) || key.StartsWith(ObjectKeys.ManifestsPrefix, StringComparison.Ordinal)
                ? throw new IOException($"injected failure writing {key}")
                : base.PutAsync(key, data, condition, cancellationToken);
    }
}
