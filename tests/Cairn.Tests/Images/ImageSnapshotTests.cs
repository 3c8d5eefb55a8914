using Cairn.Inspection;
using Cairn.Manifests;
using Cairn.Repository;
using Cairn.Snapshot;

namespace Cairn.Tests.Images;

public sealed class ImageSnapshotTests
{
    private const long ImageBlocks = 8192; // 32 MiB

    /// <summary>
    /// The property: whatever blocks change between generations (random counts, data or zeros), every generation of a
    /// ten-deep lineage restores to exactly the bytes it had, with holes exactly where its blocks are zero.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Every_generation_of_a_ten_deep_chain_restores_byte_identical(int seed)
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var random = new Random(seed);
        var image = new TestImage(workspace.PathOf("mem.img"), ImageBlocks, seed);
        image.Change(2048);
        var states = new List<ImageState>();
        var snapshots = new List<SnapshotRecord>();
        for (var generation = 0; generation < 10; generation++)
        {
            if (generation > 0)
            {
                image.Change(random.Next(1, 512), zeroOneIn: random.Next(2, 8));
            }

            states.Add(image.State());
            snapshots.Add((await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot);
            Assert.Equal(generation == 0 ? null : snapshots[generation - 1].Id.ToString(), snapshots[generation].Parent);
        }

        for (var generation = 0; generation < 10; generation++)
        {
            await workspace.RestoreAndCheckAsync(snapshots[generation], states[generation], "mem.img", workspace.PathOf($"restore-{generation}"));
        }
    }

    [Fact]
    public async Task Zero_blocks_and_holes_are_not_stored_and_restore_as_holes()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var path = workspace.PathOf("disk.img");
        using (var file = File.Create(path))
        {
            file.SetLength(256 * TestImage.Block);
            var data = new byte[TestImage.Block];
            for (var block = 0; block < 50; block++)
            {
                // Blocks 0-9 hold data, 10-49 are written zeros (allocated), the rest holes.
                data.AsSpan().Fill(block < 10 ? (byte)(block + 1) : (byte)0);
                file.Position = block * TestImage.Block;
                file.Write(data);
            }
        }

        var expected = ImageState.Of(path);
        var record = (await workspace.SnapshotAsync([path])).Snapshot;

        Assert.Equal(SnapshotRecord.ImageKind, record.Kind);
        Assert.Equal(40 * TestImage.Block, record.Stats.ZeroBytes);
        Assert.Equal(10 * TestImage.Block, record.Stats.NewBytes);
        var manifest = await workspace.Repository.ReadManifestAsync(record);
        var entry = manifest.Lookup(0, "disk.img"u8);
        Assert.Equal(10, manifest.ChunkRefsOf(entry).Length);
        Assert.Equal(EntryTraits.Sparse, manifest.Entries[entry].Traits);

        await workspace.RestoreAndCheckAsync(record, expected, "disk.img");
    }

    [Fact]
    public async Task Unchanged_images_are_not_read_again_and_changed_ones_store_only_new_blocks()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var rootfs = new TestImage(workspace.PathOf("rootfs.ext4"), ImageBlocks, seed: 10);
        var memory = new TestImage(workspace.PathOf("mem.img"), ImageBlocks / 4, seed: 11);
        rootfs.Change(1024);
        memory.Change(512);
        var first = (await workspace.SnapshotAsync([rootfs.Path, memory.Path])).Snapshot;
        Assert.Equal([memory.Path, rootfs.Path], first.Paths); // entry order: by name

        memory.Change(3, zeroOneIn: int.MaxValue);
        var expected = memory.State();
        var second = (await workspace.SnapshotAsync([memory.Path, rootfs.Path])).Snapshot; // same set, other order: auto finds the parent

        Assert.Equal(first.Id.ToString(), second.Parent);
        Assert.Equal(1, second.Stats.UnchangedFiles);
        Assert.Equal(new FileInfo(memory.Path).Length, second.Stats.BytesRead);
        Assert.InRange(second.Stats.NewChunks, 1, 3);
        await workspace.RestoreAndCheckAsync(second, expected, "mem.img");
    }

    /// <summary>
    /// An image truncated after it was listed and before it was read is stored as read, and the record's total
    /// (what `cairn snapshots` shows as SIZE) is the manifest's, with a warning; it said the listed size, in silence.
    /// </summary>
    [Fact]
    public async Task An_image_that_changes_size_after_it_is_listed_is_stored_as_read_and_said()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new DenseImage(workspace.PathOf("vm.img"), 64, seed: 3);
        var truncating = new TruncatingStore(new Storage.LocalObjectStore(workspace.RepositoryPath), image.Path, 16 * TestImage.Block);
        SnapshotResult result;
        await using (var repository = await Cairn.Repository.Repository.OpenAsync(truncating))
        {
            result = await new Archiver(repository, new SnapshotOptions()).SnapshotImagesAsync([image.Path]);
        }

        Assert.True(truncating.Truncated);
        Assert.Equal(16 * TestImage.Block, result.Snapshot.Stats.Bytes);
        var m = await workspace.Repository.ReadManifestAsync(result.Snapshot);
        Assert.Equal(16 * TestImage.Block, m.Entries[m.RootFiles().Single()].Size);
        Assert.Contains(result.Warnings, w => w.Contains("vm.img' was 262,144 bytes when listed and 65,536 when read", StringComparison.Ordinal));
        await workspace.RestoreAndCheckAsync(result.Snapshot, ImageState.Of(image.Path), "vm.img");
    }

    /// <summary>
    /// An image may have any name, also that of the origin file a restore writes beside the images: it restores, with
    /// a warning that no origin is recorded. The restore failed with EEXIST on the file it wrote itself.
    /// </summary>
    [Fact]
    public async Task An_image_named_as_the_origin_file_restores_and_says_no_origin_is_recorded()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var odd = new DenseImage(workspace.PathOf(Cairn.Restore.RestoreOrigin.FileName), 4, seed: 5);
        var vm = new DenseImage(workspace.PathOf("vm.img"), 4, seed: 6);
        var snapshot = (await workspace.SnapshotAsync([odd.Path, vm.Path])).Snapshot;

        var result = await workspace.RestoreAsync(snapshot, workspace.PathOf("restored"));

        Assert.Equal(odd.Data, await File.ReadAllBytesAsync(workspace.PathOf($"restored/{Cairn.Restore.RestoreOrigin.FileName}")));
        Assert.Equal(vm.Data, await File.ReadAllBytesAsync(workspace.PathOf("restored/vm.img")));
        Assert.Contains(result.Warnings, w => w.StartsWith($"an image is named {Cairn.Restore.RestoreOrigin.FileName}: this restore records no origin", StringComparison.Ordinal));
    }

    /// <summary>A real local store that truncates a file the first time the run lists the store (after it listed its images, before it reads them).</summary>
    private sealed class TruncatingStore(Storage.IObjectStore inner, string path, long length) : Support.DelegatingStore(inner)
    {
        public bool Truncated { get; private set; }

        public override IAsyncEnumerable<Storage.ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default)
        {
            if (!Truncated)
            {
                Truncated = true;
                using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Write);
                RandomAccess.SetLength(file, length);
            }

            return base.ListAsync(prefix, cancellationToken);
        }
    }

    /// <summary>
    /// Images packed into the same frames count, in <c>cairn inspect</c>, each their share of what a restore decodes,
    /// by the bytes each uses there: the shares add up to what the snapshot's restore decompresses. Each counted the
    /// whole of every frame or segment it touched: a small vmstate beside a memory image showed +163,840 %.
    /// </summary>
    [Fact]
    public async Task Images_that_share_frames_each_count_their_share_and_the_shares_add_up_to_the_restore()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var a = new DenseImage(workspace.PathOf("a.img"), 40, seed: 1);
        var b = new DenseImage(workspace.PathOf("b.img"), 30, seed: 2);
        var state = new DenseImage(workspace.PathOf("vmstate"), 1, seed: 3);
        string[] paths = [a.Path, b.Path, state.Path];
        var first = (await workspace.SnapshotAsync(paths, tags: "vm")).Snapshot;

        var maps = (await SnapshotInspection.InspectAsync(workspace.Repository, first)).Files;
        Assert.All(maps, map => Assert.Equal(map.DistinctBytes, map.DecodedBytes)); // one frame, all of it used
        Assert.Equal(1, maps.Select(map => map.Frames).Distinct().Single());
        var restored = await workspace.RestoreAsync(first, workspace.PathOf("first"));
        Assert.Equal(restored.BytesDecompressed, maps.Sum(map => map.DecodedBytes));

        // b's blocks replaced: the shared frame is now partly unused, and each image that keeps using it pays its share.
        b.Randomize(0, 30);
        var child = (await workspace.SnapshotAsync(paths, tags: "vm")).Snapshot;
        var childMaps = (await SnapshotInspection.InspectAsync(workspace.Repository, child)).Files;
        var result = await workspace.RestoreAsync(child, workspace.PathOf("child"));
        Assert.InRange(childMaps.Sum(map => map.DecodedBytes) - result.BytesDecompressed, -2, 2); // each share rounded
        Assert.All(childMaps, map => Assert.True(map.DecodedBytes >= map.DistinctBytes, $"{map.Path}: {map.DecodedBytes} decoded for {map.DistinctBytes}"));

        // Two disks cloned from one base share their blocks: each counts them (a figure is never below the blocks it
        // needs), and the figures add up to the restore plus the blocks counted twice.
        File.Copy(a.Path, workspace.PathOf("clone.img"));
        var clones = (await workspace.SnapshotAsync([a.Path, workspace.PathOf("clone.img")], parent: null)).Snapshot;
        var cloneMaps = (await SnapshotInspection.InspectAsync(workspace.Repository, clones)).Files;
        var clonesRestored = await workspace.RestoreAsync(clones, workspace.PathOf("clones"));
        Assert.All(cloneMaps, map => Assert.True(map.DecodedBytes >= map.DistinctBytes, $"{map.Path}: {map.DecodedBytes} decoded for {map.DistinctBytes}"));
        Assert.InRange(cloneMaps.Sum(map => map.DecodedBytes) - clonesRestored.BytesDecompressed - cloneMaps[0].DistinctBytes, -2, 2);
    }

    [Fact]
    public async Task Images_with_the_same_base_name_are_refused()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        Directory.CreateDirectory(workspace.PathOf("a"));
        Directory.CreateDirectory(workspace.PathOf("b"));
        new TestImage(workspace.PathOf("a/mem.img"), 4, seed: 1).Change(1);
        new TestImage(workspace.PathOf("b/mem.img"), 4, seed: 2).Change(1);

        var error = await Assert.ThrowsAsync<UsageException>(() => workspace.SnapshotAsync([workspace.PathOf("a/mem.img"), workspace.PathOf("b/mem.img")]));
        Assert.Contains("two images are named 'mem.img'", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Every manifest is complete: a descendant restores with every ancestor's manifest and record gone.</summary>
    [Fact]
    public async Task A_descendant_restores_without_any_ancestor_manifest()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new TestImage(workspace.PathOf("mem.img"), ImageBlocks, seed: 5);
        image.Change(1024);
        var ancestors = new List<SnapshotRecord>();
        for (var generation = 0; generation < 4; generation++)
        {
            ancestors.Add((await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot);
            image.Change(100);
        }

        var expected = image.State();
        var last = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        foreach (var ancestor in ancestors)
        {
            await workspace.Repository.Store.DeleteAsync(ObjectKeys.Manifest(ancestor.TreeHash));
            await workspace.Repository.Store.DeleteAsync(ObjectKeys.Snapshot(ancestor.Id));
        }

        await workspace.RestoreAndCheckAsync(last, expected, "mem.img");
    }

    [Fact]
    public async Task The_block_map_counts_new_inherited_and_hole_blocks_against_the_parent()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new TestImage(workspace.PathOf("mem.img"), ImageBlocks, seed: 7);
        image.Change(1000, zeroOneIn: int.MaxValue);
        var parent = (await workspace.SnapshotAsync([image.Path])).Snapshot;
        image.Change(50, zeroOneIn: int.MaxValue);
        var after = image.State().NonZeroBlocks;
        var child = (await workspace.SnapshotAsync([image.Path])).Snapshot;

        var inspection = await SnapshotInspection.InspectAsync(workspace.Repository, child);
        var map = Assert.Single(inspection.Files);
        Assert.Equal(parent.Id, inspection.Parent!.Id);
        Assert.Equal("mem.img", map.Path);
        Assert.Equal(after.Count, map.Blocks);
        Assert.Equal(child.Stats.NewChunks, map.NewBlocks); // random data: every new block is a new chunk
        Assert.InRange(map.NewBlocks, 1, 50);
        Assert.Equal(map.Blocks - map.NewBlocks, map.InheritedBlocks);
        Assert.Equal(ImageBlocks - after.Count, map.HoleBlocks);
        Assert.Equal(map.NewBlocks * TestImage.Block, map.NewBytes);
        Assert.Equal(map.Blocks * TestImage.Block, map.DataBytes);
        Assert.InRange(map.FrameBytes, map.DataBytes, map.DataBytes + (2 * (4L << 20))); // whole frames: the parent's and the new one
        Assert.InRange(map.NewStoredBytes, map.NewBytes * 9 / 10, map.NewBytes * 11 / 10); // random data does not compress
        Assert.Equal(1, map.NewPacks);
    }
}
