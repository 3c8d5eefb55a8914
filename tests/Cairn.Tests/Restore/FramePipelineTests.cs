using Cairn.Restore;
using Cairn.Storage;
using Cairn.Tests.Support;

namespace Cairn.Tests.Restore;

/// <summary><see cref="FramePipeline"/> on its own: every frame handled once, buffers reused only when free, the read-ahead budget kept.</summary>
public sealed class FramePipelineTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Every_frame_is_handled_once_from_an_intact_buffer_and_reads_stay_within_the_budget(int decodeThreads)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "a.bin"), XorShift.Bytes(3 << 20, seed: 1));
        File.WriteAllBytes(Path.Combine(source, "b.bin"), XorShift.Bytes(3 << 20, seed: 2));
        var snapshot = (await workspace.SnapshotAsync(source)).Snapshot;
        var m = await workspace.Repository.ReadManifestAsync(snapshot);
        var plan = RestorePlan.Build(m, 1 << 20);
        Assert.True(plan.Reads.Count(r => r.FrameCount >= 3) >= 4, "the test needs several reads of several frames");

        var readOf = new int[m.Frames.Length];
        for (var r = 0; r < plan.Reads.Count; r++)
        {
            foreach (var f in plan.FramesOf(plan.Reads[r]))
            {
                readOf[f] = r;
            }
        }

        var handled = new int[m.Frames.Length];
        var framesLeft = plan.Reads.Select(r => r.FrameCount).ToArray();
        var readsDone = 0;
        var worstAhead = 0;
        await using var store = new HookedStore(new LocalObjectStore(workspace.RepoPath), started =>
        {
            // Reads started but not yet fully handled, this one included: what holds a buffer.
            var ahead = started - Volatile.Read(ref readsDone);
            InterlockedMax(ref worstAhead, ahead);
            return ValueTask.CompletedTask;
        });

        await FramePipeline.RunAsync(store, m, plan, new FramePipeline.Limits(ReadAheadBytes: 0, Reads: 2, decodeThreads), (frame, data, key) =>
        {
            // Slow handling: a buffer released too early would be refilled by the next read before the frames still
            // in it are decoded, and fail their checksum.
            Thread.Sleep(5);
            Interlocked.Increment(ref handled[frame]);
            if (Interlocked.Decrement(ref framesLeft[readOf[frame]]) == 0)
            {
                Interlocked.Increment(ref readsDone);
            }
        }, CancellationToken.None);

        Assert.Equal(Enumerable.Repeat(1, m.Frames.Length), handled);
        Assert.InRange(worstAhead, 1, 2);
    }

    private static void InterlockedMax(ref int location, int value)
    {
        var current = Volatile.Read(ref location);
        while (value > current && Interlocked.CompareExchange(ref location, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }
}
