using System.Buffers.Binary;
using Cairn.Format;
using Cairn.Inspection;
using Cairn.Repository;
using Cairn.Storage;

namespace Cairn.Tests.Images;

/// <summary>
/// Image frames compressed in segments (<see cref="FrameSegments"/>, <see cref="SegmentTrial"/>): where segments cost
/// almost nothing they are used, and a descendant's restore decompresses only the segments of inherited frames it needs.
/// </summary>
public sealed class SegmentedFrameTests
{
    private const int Segment = SegmentTrial.SegmentSize;
    private const int BlocksPerSegment = Segment / TestImage.Block;

    [Fact]
    public async Task A_child_restore_decompresses_only_the_inherited_segments_it_uses()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new DenseImage(workspace.PathOf("mem.img"), blocks: 1024, seed: 11); // two frames of 2 MiB
        var parent = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        Assert.All(await FramesAsync(workspace, parent), f => Assert.True(f, "a frame of random pages was stored whole"));
        Assert.All(await PackVersionsAsync(workspace, parent), v => Assert.Equal((3u, 3u), v));

        // The child replaces the first 6 segments of the first frame and 4 blocks of the seventh. Nothing moves: the
        // parent uses all of its frames (ParentLayout looks at the parent's use).
        var replaced = (6 * BlocksPerSegment) + 4;
        image.Randomize(0, replaced);
        var child = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        var map = (await SnapshotInspection.InspectAsync(workspace.Repository, child)).Files[0];
        Assert.Equal(0, map.MovedBytes);

        var result = await workspace.RestoreAsync(child, workspace.PathOf("restored"));
        Assert.Equal(image.Data, await File.ReadAllBytesAsync(workspace.PathOf("restored/mem.img")));

        // Whole frames would be: both inherited frames and the new one. Six segments are left out, and cairn inspect
        // says so before any restore.
        Assert.Equal(map.FrameBytes - (6L * Segment), result.BytesDecompressed);
        Assert.Equal(result.BytesDecompressed, map.DecodedBytes);
    }

    [Fact]
    public async Task Blocks_left_in_a_segment_their_parent_mostly_replaced_move_though_the_frame_is_mostly_used()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();
        var image = new DenseImage(workspace.PathOf("mem.img"), blocks: 1024, seed: 13);
        await workspace.SnapshotAsync([image.Path], tags: "vm");

        // The child replaces 20 of the 32 blocks of the first segment: it still uses 492 of the frame's 512 blocks.
        image.Randomize(0, 20);
        var child = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        Assert.Equal(0, child.Stats.RewrittenBytes ?? 0);

        // Its child reads those 12 blocks again, and stores them again next to its own new block: a restore of it no
        // longer decompresses that segment for 12 blocks.
        image.Randomize(1000, 1);
        var grandchild = (await workspace.SnapshotAsync([image.Path], tags: "vm")).Snapshot;
        Assert.Equal(12L * TestImage.Block, grandchild.Stats.RewrittenBytes);

        var map = (await SnapshotInspection.InspectAsync(workspace.Repository, grandchild)).Files[0];
        var result = await workspace.RestoreAsync(grandchild, workspace.PathOf("restored"));
        Assert.Equal(image.Data, await File.ReadAllBytesAsync(workspace.PathOf("restored/mem.img")));
        Assert.Equal(map.FrameBytes - Segment, result.BytesDecompressed);
        Assert.Equal(result.BytesDecompressed, map.DecodedBytes);
    }

    [Fact]
    public async Task Data_that_compresses_across_segments_keeps_whole_frames()
    {
        await using var workspace = await ImageWorkspace.CreateAsync();

        // 192 KiB and 100 bytes of random bytes, repeated: a whole frame finds the repeats, a 128 KiB segment cannot
        // (and the blocks are all different, so deduplication does not find them either).
        var pattern = new byte[(192 << 10) + 100];
        new Random(12).NextBytes(pattern);
        var data = new byte[4 << 20];
        for (var at = 0; at < data.Length; at += pattern.Length)
        {
            pattern.AsSpan(0, Math.Min(pattern.Length, data.Length - at)).CopyTo(data.AsSpan(at));
        }

        var path = workspace.PathOf("disk.img");
        await File.WriteAllBytesAsync(path, data);
        var snapshot = (await workspace.SnapshotAsync([path])).Snapshot;

        Assert.All(await FramesAsync(workspace, snapshot), f => Assert.False(f, "a frame was segmented though it lost by it"));
        Assert.All(await PackVersionsAsync(workspace, snapshot), v => Assert.Equal((2u, 2u), v)); // readable by a Cairn that predates segments
        var result = await workspace.RestoreAsync(snapshot, workspace.PathOf("restored"));
        Assert.Equal(data, await File.ReadAllBytesAsync(workspace.PathOf("restored/disk.img")));
        Assert.True(snapshot.Stats.StoredBytes < 1 << 20, $"{snapshot.Stats.StoredBytes} bytes stored for 4 MiB of one repeated 192 KiB pattern");
        var map = (await SnapshotInspection.InspectAsync(workspace.Repository, snapshot)).Files[0];
        Assert.Equal(map.FrameBytes, result.BytesDecompressed);
        Assert.Equal(map.FrameBytes, map.DecodedBytes);
    }

    [Fact]
    public void A_trial_decides_for_the_frames_after_it_and_each_verdict_that_confirms_it_doubles_the_wait()
    {
        var trial = new SegmentTrial();
        Assert.Equal(SegmentTrial.Choice.Trial, trial.Next(out _));
        Assert.Equal(SegmentTrial.Choice.Trial, trial.Next(out var last)); // no verdict yet: all trials

        // Segments win, and keep winning: the next trials come after 4, 8, 16, 32, 32 frames.
        foreach (var interval in new[] { 4, 8, 16, 32, SegmentTrial.MaxInterval })
        {
            Assert.True(trial.Judge(last, wholeLength: 1000, segmentedLength: 1015)); // within 1/64
            Assert.Equal(Enumerable.Repeat(SegmentTrial.Choice.Segments, interval - 1), Take(trial, interval - 1));
            Assert.Equal(SegmentTrial.Choice.Trial, trial.Next(out last));
        }

        // Whole frames win: the course changes, and the wait starts again at 4.
        foreach (var interval in new[] { SegmentTrial.FirstInterval, 8, 16 })
        {
            Assert.False(trial.Judge(last, wholeLength: 1000, segmentedLength: 1016));
            Assert.Equal(Enumerable.Repeat(SegmentTrial.Choice.Whole, interval - 1), Take(trial, interval - 1));
            Assert.Equal(SegmentTrial.Choice.Trial, trial.Next(out last));
        }

        // One win of segments, and the stream follows them again, with the next trial 4 frames on.
        Assert.True(trial.Judge(last, wholeLength: 1000, segmentedLength: 900));
        Assert.Equal(Enumerable.Repeat(SegmentTrial.Choice.Segments, 3), Take(trial, 3));
        Assert.Equal(SegmentTrial.Choice.Trial, trial.Next(out _));
    }

    [Fact]
    public void A_trial_that_ends_after_a_newer_one_decides_its_own_frame_only()
    {
        var trial = new SegmentTrial();
        trial.Next(out var older);
        trial.Next(out var newer);
        Assert.True(trial.Judge(newer, wholeLength: 1000, segmentedLength: 1000));
        Assert.False(trial.Judge(older, wholeLength: 1000, segmentedLength: 2000)); // its own frame goes whole
        Assert.Equal(Enumerable.Repeat(SegmentTrial.Choice.Segments, 3), Take(trial, 3));
    }

    private static List<SegmentTrial.Choice> Take(SegmentTrial trial, int count) => [.. Enumerable.Range(0, count).Select(_ => trial.Next(out _))];

    /// <summary>The version in the header and in the trailer of each pack of the snapshot.</summary>
    private static async Task<List<(uint Header, uint Trailer)>> PackVersionsAsync(ImageWorkspace workspace, SnapshotRecord snapshot)
    {
        var m = await workspace.Repository.ReadManifestAsync(snapshot);
        var versions = new List<(uint, uint)>();
        foreach (var pack in m.Packs)
        {
            var bytes = await workspace.Repository.Store.ReadAllAsync(ObjectKeys.Pack(pack));
            versions.Add((BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)), PackFormat.ReadTrailer(bytes.AsSpan(bytes.Length - PackFormat.TrailerSize), bytes.Length, "pack").Version));
        }

        return versions;
    }

    /// <summary>Per frame of the snapshot's manifest over 128 KiB: whether its bytes start with a segment table.</summary>
    private static async Task<List<bool>> FramesAsync(ImageWorkspace workspace, SnapshotRecord snapshot)
    {
        var m = await workspace.Repository.ReadManifestAsync(snapshot);
        var segmented = new List<bool>();
        foreach (var f in m.Frames.Where(f => f.UncompressedLength > Segment))
        {
            var head = new byte[4];
            await workspace.Repository.Store.ReadRangeAsync(ObjectKeys.Pack(m.Packs[f.Pack]), f.Offset, head);
            segmented.Add(FrameSegments.IsSegmented(head));
        }

        Assert.NotEmpty(segmented);
        return segmented;
    }
}
