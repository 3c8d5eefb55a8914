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
    public async Task A_verdict_decides_from_Lag_frames_after_its_trial_and_each_one_that_confirms_it_doubles_the_wait()
    {
        // Segments win every trial: the first Lag frames are trials (no verdict is in yet), then each of their verdicts
        // confirms the course and doubles the wait: the next trial comes 32 frames after the last of them is taken in
        // (frame 7), then 32 frames after each verdict, which comes Lag frames after its trial.
        var choices = await StreamAsync(new SegmentTrial(), frames: 120, verdict: _ => true);
        Assert.Equal([0, 1, 2, 3, 38, 73, 108], TrialsOf(choices));
        AssertFollowsVerdicts(choices, _ => true);

        // Whole frames win from the trial of frame 38 on: its verdict changes the course at frame 42, and the waits
        // start again at 4 (frames 42, 43, 44, then the trial 45), then 8 and 16.
        choices = await StreamAsync(new SegmentTrial(), frames: 120, verdict: f => f < 38);
        Assert.Equal([0, 1, 2, 3, 38, 45, 56, 75, 110], TrialsOf(choices));
        AssertFollowsVerdicts(choices, f => f < 38);
    }

    [Fact]
    public async Task The_producer_waits_for_a_verdict_that_is_not_in_Lag_frames_after_its_trial()
    {
        var trial = new SegmentTrial();
        var verdicts = new List<TaskCompletionSource<bool>>();
        for (var f = 0; f < SegmentTrial.Lag; f++)
        {
            Assert.Equal(SegmentTrial.Choice.Trial, await trial.NextAsync());
            verdicts.Add(new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously));
            trial.Started(verdicts[^1].Task);
        }

        // Frame Lag follows the verdict of frame 0, which is not in: it waits, however long the trial takes.
        var next = trial.NextAsync().AsTask();
        await Task.Delay(50);
        Assert.False(next.IsCompleted, "a frame was chosen before the verdict it depends on was in");
        verdicts[0].SetResult(false);
        Assert.Equal(SegmentTrial.Choice.Whole, await next);
    }

    [Fact]
    public async Task The_same_image_makes_the_same_packs()
    {
        // 64 frames of 256 KiB that alternate, 4 MiB at a time, between random pages (segments cost nothing) and a
        // repeated pattern (segments lose): trials go both ways, and frames are compressed in parallel.
        const int FrameSize = 256 << 10;
        var pattern = new byte[(192 << 10) + 100];
        new Random(3).NextBytes(pattern);
        var data = new byte[64 * FrameSize];
        new Random(4).NextBytes(data);
        for (var region = 4 << 20; region < data.Length; region += 8 << 20)
        {
            for (var at = region; at < region + (4 << 20); at += pattern.Length)
            {
                pattern.AsSpan(0, Math.Min(pattern.Length, region + (4 << 20) - at)).CopyTo(data.AsSpan(at));
            }
        }

        var packs = new List<string[]>();
        var segmented = new List<int>();
        for (var run = 0; run < 3; run++)
        {
            await using var workspace = await ImageWorkspace.CreateAsync(frameSize: FrameSize);
            var path = workspace.PathOf("disk.img");
            await File.WriteAllBytesAsync(path, data);
            var snapshot = (await workspace.SnapshotAsync([path])).Snapshot;
            segmented.Add((await FramesAsync(workspace, snapshot)).Count(f => f));
            packs.Add([.. Directory.EnumerateFiles(Path.Combine(workspace.RepositoryPath, "packs"), "*", SearchOption.AllDirectories).Select(Path.GetFileName).Order(StringComparer.Ordinal)!]);
        }

        Assert.InRange(segmented[0], 1, 63); // both kinds of frame
        Assert.All(packs, p => Assert.Equal(packs[0], p));
    }

    /// <summary>The choices of a stream of <paramref name="frames"/> frames whose trials end as <paramref name="verdict"/> says.</summary>
    private static async Task<List<SegmentTrial.Choice>> StreamAsync(SegmentTrial trial, int frames, Func<int, bool> verdict)
    {
        var choices = new List<SegmentTrial.Choice>();
        for (var f = 0; f < frames; f++)
        {
            choices.Add(await trial.NextAsync());
            if (choices[^1] == SegmentTrial.Choice.Trial)
            {
                trial.Started(Task.FromResult(verdict(f)));
            }
        }

        return choices;
    }

    private static List<int> TrialsOf(List<SegmentTrial.Choice> choices) => [.. Enumerable.Range(0, choices.Count).Where(f => choices[f] == SegmentTrial.Choice.Trial)];

    /// <summary>Every frame that is not a trial follows the verdict of the latest trial at least Lag frames before it.</summary>
    private static void AssertFollowsVerdicts(List<SegmentTrial.Choice> choices, Func<int, bool> verdict)
    {
        var trials = TrialsOf(choices);
        for (var f = 0; f < choices.Count; f++)
        {
            if (choices[f] != SegmentTrial.Choice.Trial)
            {
                var decisive = trials.Last(t => t <= f - SegmentTrial.Lag);
                Assert.Equal(verdict(decisive) ? SegmentTrial.Choice.Segments : SegmentTrial.Choice.Whole, choices[f]);
            }
        }
    }

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
