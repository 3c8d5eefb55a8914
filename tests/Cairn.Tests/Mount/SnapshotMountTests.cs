using Cairn.Tests.Support;
using System.Runtime.Versioning;
using Cairn.Manifests;
using Cairn.Mount;
using Cairn.Native.Fuse;
using Cairn.Repository;
using Cairn.Snapshot;
using Cairn.Tests.Fuse;

namespace Cairn.Tests.Mount;

[Collection(FuseMountsDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed class SnapshotMountTests
{
    [FuseFact]
    public async Task The_whole_tree_reads_back_identical_through_the_mount()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mount = await lab.MountAsync(snapshot);

        var entries = TreeComparer.AssertSame(lab.Source, mount.MountPoint);

        Assert.True(entries > 300);
        Assert.Equal(0, mount.Statistics.ReadErrors);
        Assert.True(mount.Statistics.DemandFetches > 10, $"only {mount.Statistics.DemandFetches} frames fetched");
        Assert.Empty(lab.Log);

        // Holes read as zeros and are not counted as allocated.
        var sparse = new FileInfo(Path.Combine(mount.MountPoint, "sparse.bin"));
        var bytes = await File.ReadAllBytesAsync(sparse.FullName);
        Assert.True(bytes.AsSpan(0, 1 << 20).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal("island"u8.ToArray(), bytes.AsSpan((2 << 20) + 5, 6).ToArray());
        Assert.True(long.Parse(await ProcessRunner.RunTextAsync("stat", "-c", "%b", sparse.FullName), System.Globalization.CultureInfo.InvariantCulture) * 512 < 1 << 20);
    }

    [FuseFact]
    public async Task An_image_in_segmented_frames_reads_back_identical_through_the_mount()
    {
        await using var lab = await MountLab.CreateAsync(config: new RepositoryConfig()); // 2 MiB frames: segmented
        var image = new Images.DenseImage(Path.Combine(lab.Root, "mem.img"), blocks: 1500, seed: 21);
        var snapshot = (await new Archiver(lab.Repository, new SnapshotOptions()).SnapshotImagesAsync([image.Path])).Snapshot;
        var manifest = await lab.Repository.ReadManifestAsync(snapshot);
        var head = new byte[4];
        await lab.Repository.Store.ReadRangeAsync(ObjectKeys.Pack(manifest.Packs[manifest.Frames[0].Pack]), manifest.Frames[0].Offset, head);
        Assert.True(Cairn.Format.FrameSegments.IsSegmented(head), "the test needs a segmented frame");

        var mount = await lab.MountAsync(snapshot);
        var path = Path.Combine(mount.MountPoint, "mem.img");
        using (var handle = File.OpenHandle(path))
        {
            // A read in the middle of a frame first, then all of it.
            var part = new byte[10_000];
            Assert.Equal(part.Length, RandomAccess.Read(handle, part, 1_500_000));
            Assert.True(image.Data.AsSpan(1_500_000, part.Length).SequenceEqual(part));
        }

        Assert.Equal(image.Data, await File.ReadAllBytesAsync(path));
        Assert.Equal(0, mount.Statistics.ReadErrors);
    }

    [FuseFact]
    public async Task Concurrent_readers_of_a_cold_file_share_one_fetch_per_frame()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var manifest = await lab.Repository.ReadManifestAsync(snapshot);
        var frames = FramesOf(manifest, "big.bin");
        var mount = await lab.MountAsync(snapshot);
        var expected = SampleTree.Data(SampleTree.BigSize, seed: 1);
        var path = Path.Combine(mount.MountPoint, "big.bin");
        var getsBefore = lab.Gets;

        using var start = new Barrier(8);
        var readers = Enumerable.Range(0, 8).Select(r => Task.Run(() =>
        {
            var random = new Random(r);
            using var handle = File.OpenHandle(path);
            var buffer = new byte[70_000];
            start.SignalAndWait();
            for (var i = 0; i < 40; i++)
            {
                var offset = random.Next(SampleTree.BigSize - buffer.Length);
                var read = RandomAccess.Read(handle, buffer, offset);
                Assert.True(expected.AsSpan(offset, read).SequenceEqual(buffer.AsSpan(0, read)), $"wrong bytes at {offset}");
            }
        })).ToArray();
        await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(expected, await File.ReadAllBytesAsync(path));

        // Each frame of the file was fetched once, however many readers wanted it at the same time.
        Assert.Equal(frames.Count, mount.Statistics.DemandFetches);
        Assert.Equal(frames.Count, lab.Gets - getsBefore);
    }

    [FuseFact]
    public async Task A_tiny_cache_evicts_and_still_returns_correct_data()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        const long limit = 3 * (128 << 10);
        var mount = await lab.MountAsync(snapshot, new MountOptions { Hydrate = false, Trace = false, CacheSize = limit, MemoryFrames = 1 });

        TreeComparer.AssertSame(lab.Source, mount.MountPoint);
        await ProcessRunner.RunTextAsync("sh", "-c", "echo 3 > /proc/sys/vm/drop_caches");
        TreeComparer.AssertSame(lab.Source, mount.MountPoint);

        var cached = Directory.EnumerateFiles(Path.Combine(mount.CacheDirectory!, "frames"), "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        Assert.InRange(cached, 1, limit);
        Assert.Equal(0, mount.Statistics.ReadErrors);
    }

    [FuseFact]
    public async Task A_corrupt_frame_gives_EIO_naming_snapshot_path_and_pack_and_the_mount_survives()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var manifest = await lab.Repository.ReadManifestAsync(snapshot);
        var frame = manifest.Frames[FramesOf(manifest, "other.bin")[0]];
        var packKey = ObjectKeys.Pack(manifest.Packs[frame.Pack]);
        FlipByte(Path.Combine(lab.RepositoryPath, packKey), frame.Offset + (frame.CompressedLength / 2));
        var mount = await lab.MountAsync(snapshot);

        var error = await Assert.ThrowsAnyAsync<IOException>(() => File.ReadAllBytesAsync(Path.Combine(mount.MountPoint, "other.bin")));
        Assert.Contains("Input/output error", error.Message, StringComparison.Ordinal);

        Assert.Equal("hello\n", await File.ReadAllTextAsync(Path.Combine(mount.MountPoint, "small.txt")));
        Assert.True(mount.IsRunning);
        Assert.True(mount.Statistics.ReadErrors > 0);
        Assert.NotEmpty(lab.Log);
        Assert.All(lab.Log, line =>
        {
            Assert.Contains(snapshot.Id.ToShortString(), line, StringComparison.Ordinal);
            Assert.Contains("'other.bin'", line, StringComparison.Ordinal);
            Assert.Contains(packKey, line, StringComparison.Ordinal);
        });
    }

    [FuseFact]
    public async Task A_damaged_cache_file_is_dropped_and_fetched_again()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var first = await lab.MountAsync(snapshot);
        Assert.Equal("hello\n", await File.ReadAllTextAsync(Path.Combine(first.MountPoint, "small.txt")));
        await first.DisposeAsync();

        var cached = Assert.Single(Directory.EnumerateFiles(Path.Combine(first.CacheDirectory!, "frames"), "*", SearchOption.AllDirectories));
        var manifest = await lab.Repository.ReadManifestAsync(snapshot);
        var entry = manifest.Resolve("small.txt"u8);
        var location = manifest.Locations[manifest.ChunkRefsOf(entry)[0].Chunk];
        FlipByte(cached, location.OffsetInFrame);

        var second = await lab.MountAsync(snapshot);
        Assert.Equal("hello\n", await File.ReadAllTextAsync(Path.Combine(second.MountPoint, "small.txt")));
        Assert.Equal(1, second.Statistics.CacheRepairs);
        Assert.Equal(1, second.Statistics.DemandFetches);
    }

    [FuseFact]
    public async Task A_log_that_cannot_be_written_costs_the_line_never_the_mount()
    {
        // The pusher logs a neighbour that fails its check from its own thread: with a failing log, an exception
        // there would end the process.
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var manifest = await lab.Repository.ReadManifestAsync(snapshot);
        var first = await lab.MountAsync(snapshot);
        var names = FileNames(Path.Combine(first.MountPoint, "many"));
        Assert.Equal("file 0\n", await File.ReadAllTextAsync(Path.Combine(first.MountPoint, "many", names[0])));
        await first.DisposeAsync();

        // A neighbour damaged in the disk cache, which the next mount's pusher reads and checks.
        var cached = Assert.Single(Directory.EnumerateFiles(Path.Combine(first.CacheDirectory!, "frames"), "*", SearchOption.AllDirectories));
        var damaged = names[1];
        FlipByte(cached, manifest.Locations[manifest.ChunkRefsOf(manifest.Resolve(System.Text.Encoding.UTF8.GetBytes("many/" + damaged)))[0].Chunk].OffsetInFrame);

        lab.LogFails = true;
        var second = await lab.MountAsync(snapshot);
        var many = Path.Combine(second.MountPoint, "many");
        _ = Directory.GetFiles(many); // listed: the kernel holds every inode, so the pusher gets that far
        Assert.Equal("file 0\n", await File.ReadAllTextAsync(Path.Combine(many, names[0])));
        await WaitUntilAsync(() => lab.Log.Any(l => l.Contains("not put into the page cache", StringComparison.Ordinal)));

        Assert.Contains(lab.Log, l => l.Contains("not put into the page cache", StringComparison.Ordinal) && l.Contains("fails verification", StringComparison.Ordinal));

        // The server is still there: the damaged file is read, found damaged in the cache, and fetched again.
        Assert.True(second.IsRunning);
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(lab.Source, "many", damaged)), await File.ReadAllTextAsync(Path.Combine(many, damaged)));
        Assert.Equal(1, second.Statistics.CacheRepairs);
    }

    [FuseFact]
    public async Task Remounting_reuses_the_cache_without_fetching()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var first = await lab.MountAsync(snapshot);
        TreeComparer.AssertSame(lab.Source, first.MountPoint);
        await first.DisposeAsync();

        await lab.ReopenAsync();
        var second = await lab.MountAsync(snapshot);
        var getsAtMount = lab.Gets;
        TreeComparer.AssertSame(lab.Source, second.MountPoint);

        Assert.Equal(getsAtMount, lab.Gets);
        Assert.Equal(0, second.Statistics.DemandFetches);
        Assert.True(second.Statistics.DiskHits > 0);
    }

    [FuseFact]
    public async Task After_hydration_reads_need_no_fetch()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var manifest = await lab.Repository.ReadManifestAsync(snapshot);
        var before = lab.Gets;
        var mount = await lab.MountAsync(snapshot, new MountOptions { Hydrate = true, Trace = false });
        await mount.Background.WaitAsync(TimeSpan.FromSeconds(60));
        var gets = lab.Gets;

        Assert.Equal(manifest.Frames.Length, mount.HydrationProgress.Done);
        Assert.True(gets - before < manifest.Frames.Length / 2, $"{gets - before} GETs for {manifest.Frames.Length} frames: ranged reads were not coalesced");
        TreeComparer.AssertSame(lab.Source, mount.MountPoint);

        Assert.Equal(gets, lab.Gets);
        Assert.Equal(0, mount.Statistics.DemandFetches);
        Assert.Contains(lab.Log, l => l.Contains("hydrated", StringComparison.Ordinal));
    }

    [FuseFact]
    public async Task Unmounting_while_a_file_is_open_detaches_lazily()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mount = await lab.MountAsync(snapshot);
        using (var stream = new FileStream(Path.Combine(mount.MountPoint, "big.bin"), FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0))
        {
            stream.ReadExactly(new byte[4096]);
            Assert.Equal(FuseUnmountResult.LazilyUnmounted, mount.Unmount());
            await mount.WaitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.False(FuseMount.IsMountedAt(mount.MountPoint));
        }

        await mount.DisposeAsync();
        Assert.False(mount.IsRunning);
    }

    [FuseFact]
    public async Task A_trace_is_recorded_and_a_child_snapshot_mount_prefetches_by_it()
    {
        await using var lab = await MountLab.CreateAsync();
        var parent = await lab.SnapshotAsync();
        var traced = new MountOptions { Hydrate = false, Trace = true };
        var first = await lab.MountAsync(parent, traced);
        await File.ReadAllBytesAsync(Path.Combine(first.MountPoint, "big.bin"));
        await File.ReadAllTextAsync(Path.Combine(first.MountPoint, "dir/sub/deeper/deep.txt"));
        await first.DisposeAsync();
        await first.TraceWritten;
        Assert.NotNull(await lab.Repository.Store.TryGetSizeAsync(ObjectKeys.Trace(parent.TreeHash)));

        SampleTree.Change(lab.Source);
        var child = await lab.SnapshotAsync(parent);
        Assert.Null(await lab.Repository.Store.TryGetSizeAsync(ObjectKeys.Trace(child.TreeHash)));

        // A cold cache: only the prefetch can have brought the traced frames.
        var second = await lab.MountAsync(child, traced with { CacheRoot = Path.Combine(lab.Root, "cache2") });
        await second.Background.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Contains(lab.Log, l => l.Contains("predicted by the trace of ancestor " + parent.Id.ToShortString(), StringComparison.Ordinal));
        Assert.Equal(SampleTree.Data(SampleTree.BigSize, seed: 1), await File.ReadAllBytesAsync(Path.Combine(second.MountPoint, "big.bin")));
        Assert.Equal("deep\n", await File.ReadAllTextAsync(Path.Combine(second.MountPoint, "dir/sub/deeper/deep.txt")));
        Assert.Equal(0, second.Statistics.DemandFetches);

        await File.ReadAllBytesAsync(Path.Combine(second.MountPoint, "other.bin")); // not in the trace
        Assert.True(second.Statistics.DemandFetches > 0);
    }

    [FuseFact]
    public async Task Reading_one_file_puts_its_neighbours_in_the_frame_into_the_page_cache_from_a_fetch_or_the_disk_cache()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var manifest = await lab.Repository.ReadManifestAsync(snapshot);
        int FrameOf(string name) => (int)manifest.Locations[manifest.ChunkRefsOf(manifest.Resolve(System.Text.Encoding.UTF8.GetBytes("many/" + name)))[0].Chunk].Frame;
        var options = new MountOptions { Hydrate = false, Trace = false };

        // Fetched on demand, then (remounted, nothing fetched) from the disk cache; and with pushing off, for contrast.
        foreach (var (push, source) in new[] { (true, "fetch"), (true, "disk cache"), (false, "disk cache") })
        {
            var mount = await lab.MountAsync(snapshot, options with { PushSiblings = push });
            var many = Path.Combine(mount.MountPoint, "many");
            var names = FileNames(many); // listed: the kernel holds every inode
            var first = names[0];
            var neighbours = names.Skip(1).Where(n => FrameOf(n) == FrameOf(first)).ToArray();
            Assert.True(neighbours.Length > 50, $"{neighbours.Length} files share the first one's frame");

            Assert.Equal("file 0\n", await File.ReadAllTextAsync(Path.Combine(many, first)));

            // The server pushes after it has answered the read.
            await WaitUntilAsync(() => mount.Statistics.Reads >= 1 && (!push || mount.Statistics.FilesPushed >= neighbours.Length));

            Assert.Equal(1, mount.Statistics.Reads);
            Assert.Equal(push ? neighbours.Length : 0, mount.Statistics.FilesPushed);

            foreach (var name in neighbours)
            {
                Assert.Equal(await File.ReadAllTextAsync(Path.Combine(lab.Source, "many", name)), await File.ReadAllTextAsync(Path.Combine(many, name)));
            }

            // Pushed files are read from the page cache alone; without pushing, each is a read request.
            Assert.Equal(push ? 1 : 1 + neighbours.Length, mount.Statistics.Reads);
            Assert.Equal(source == "fetch" ? 1 : 0, mount.Statistics.DemandFetches);
            Assert.Equal(0, mount.Statistics.ReadErrors);
            await mount.DisposeAsync();
        }

        Assert.Empty(lab.Log);
    }

    [FuseFact]
    public async Task A_trace_recorded_while_files_are_pushed_still_prefetches_the_pushed_files()
    {
        // A pushed file's reads never reach the server, so the trace does not list them: it holds the frame of the
        // read that pushed them, which is theirs too. The next mount must find them fetched.
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var traced = new MountOptions { Hydrate = false, Trace = true, PushSiblings = true };
        var first = await lab.MountAsync(snapshot, traced);
        var many = Path.Combine(first.MountPoint, "many");
        var names = FileNames(many);
        foreach (var name in names)
        {
            await File.ReadAllBytesAsync(Path.Combine(many, name));
        }

        Assert.True(first.Statistics.FilesPushed > 50, $"{first.Statistics.FilesPushed} files pushed");
        Assert.True(first.Statistics.Reads < names.Length / 2, $"{first.Statistics.Reads} reads for {names.Length} files");
        await first.DisposeAsync();
        await first.TraceWritten;

        var second = await lab.MountAsync(snapshot, traced with { CacheRoot = Path.Combine(lab.Root, "cache2"), PushSiblings = false });
        await second.Background.WaitAsync(TimeSpan.FromSeconds(60));
        foreach (var name in names)
        {
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(lab.Source, "many", name)), await File.ReadAllBytesAsync(Path.Combine(second.MountPoint, "many", name)));
        }

        Assert.True(second.Statistics.Reads >= names.Length, $"{second.Statistics.Reads} reads"); // no pushing: each file read by a request...
        Assert.Equal(0, second.Statistics.DemandFetches); // ...and every one answered from what the trace prefetched
    }

    [FuseFact]
    public async Task Files_with_holes_or_across_frames_are_never_pushed_only_read()
    {
        await using var lab = await MountLab.CreateAsync();
        using (var holey = new FileStream(Path.Combine(lab.Source, "holey.bin"), FileMode.CreateNew))
        {
            holey.SetLength(64 << 10); // small enough to share a frame with its neighbours, data only near the end
            holey.Position = 60_000;
            holey.Write("after the hole"u8);
        }

        var snapshot = await lab.SnapshotAsync();
        var manifest = await lab.Repository.ReadManifestAsync(snapshot);
        Assert.True(FramesOf(manifest, "big.bin").Count > 1);
        Assert.NotEqual(0, manifest.ChunkRefsOf(manifest.Resolve("holey.bin"u8))[0].Offset);
        var mount = await lab.MountAsync(snapshot);
        _ = Directory.GetFileSystemEntries(mount.MountPoint); // listed: the kernel holds every inode of the root

        // Reading every other file of the root directory pushes what can be pushed, from every frame they are in.
        foreach (var name in new[] { "small.txt", "other.bin", "hard1", "script.sh", "secret" })
        {
            await File.ReadAllBytesAsync(Path.Combine(mount.MountPoint, name));
        }

        await Task.Delay(500); // pushes run behind the reads
        foreach (var name in new[] { "big.bin", "sparse.bin", "holey.bin" })
        {
            var reads = mount.Statistics.Reads;
            Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(lab.Source, name)), await File.ReadAllBytesAsync(Path.Combine(mount.MountPoint, name)));
            Assert.True(mount.Statistics.Reads > reads, $"{name} was in the page cache before it was read");
        }
    }

    internal static List<int> FramesOf(Manifest manifest, string path)
    {
        var entry = manifest.Resolve(System.Text.Encoding.UTF8.GetBytes(path));
        return manifest.ChunkRefsOf(entry).ToArray().Select(r => (int)manifest.Locations[r.Chunk].Frame).Distinct().ToList();
    }

    /// <summary>The names of the files in <paramref name="directory"/>, sorted; listing them also makes the kernel hold their inodes.</summary>
    private static string[] FileNames(string directory) =>
        [.. Directory.GetFiles(directory).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    /// <summary>Waits up to 30 s for <paramref name="done"/> (what the server does after answering a read); the caller asserts.</summary>
    private static async Task WaitUntilAsync(Func<bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!done() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
    }

    private static void FlipByte(string path, long offset)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        var one = new byte[1];
        RandomAccess.Read(handle, one, offset);
        one[0] ^= 0xFF;
        RandomAccess.Write(handle, one, offset);
    }
}
