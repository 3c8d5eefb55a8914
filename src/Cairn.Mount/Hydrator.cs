using System.Diagnostics;
using Cairn.Manifests;
using Cairn.Restore;

namespace Cairn.Mount;

/// <summary>
/// Background fetching after the mount answers: first the frames a trace predicts the workload will read, then (if
/// hydrating) every other frame of the snapshot in reverse pack order, as coalesced ranged reads, a few in flight, each
/// waiting while demand fetches are in flight, all on threads at the lowest CPU priority. Once it is done, no read
/// needs the repository.
/// </summary>
internal sealed class Hydrator
{
    private static readonly TimeSpan s_progressInterval = TimeSpan.FromSeconds(5);
    private readonly MountContext _context;
    private readonly FrameFetcher _fetcher;
    private int _framesTotal;
    private int _framesDone;

    public Hydrator(MountContext context, FrameFetcher fetcher)
    {
        _context = context;
        _fetcher = fetcher;
    }

    /// <summary>Frames of the current phase present in the cache, and how many it has.</summary>
    public (int Done, int Total) Progress => (Volatile.Read(ref _framesDone), Volatile.Read(ref _framesTotal));

    /// <summary>
    /// Fetches <paramref name="frames"/> into the cache in the order given (the order the workload first read them),
    /// frames adjacent in a pack read together; returns how many had to be fetched. Blocks the calling thread.
    /// </summary>
    public int Prefetch(int[] frames, CancellationToken cancellationToken)
        => Run(frames, PackReads.Coalesce(_context.Manifest, frames, _context.Options.BackgroundReadSize), cancellationToken);

    /// <summary>Fetches every frame of the snapshot not yet cached; returns how many had to be fetched. Blocks the calling thread.</summary>
    public int Hydrate(CancellationToken cancellationToken)
    {
        var (order, reads) = PlanHydration(_context.Manifest, _context.Options.BackgroundReadSize);
        return Run(order, reads, cancellationToken);
    }

    /// <summary>
    /// Every frame of <paramref name="manifest"/> in pack order, and the ranged reads that fetch them (positions in
    /// that order), to be made in reverse: the last frames first.
    /// </summary>
    /// <remarks>
    /// Back to front, because packs hold files in the order a walk of the tree visits them: a reader that walks it
    /// (tar, cp -r, grep -r) starts at the front, where its demand fetches serve it from memory. Hydrating toward it
    /// from the far end, the two seldom want the same frames. From the front, in step with it, hydration made the
    /// reader find its next frames in the disk cache and read them back from there instead (a full read through a
    /// mount: 0.96× the kernel's squashfs against 1.12×, docs/benchmarks.md).
    /// </remarks>
    internal static (int[] Order, PackRead[] Reads) PlanHydration(Manifest manifest, int readSize)
    {
        var plan = RestorePlan.Build(manifest, readSize);
        var order = plan.Reads.SelectMany(r => plan.FramesOf(r).ToArray()).ToArray();
        return (order, plan.Reads.Reverse().ToArray());
    }

    /// <summary>Runs the reads on the calling thread and <see cref="MountOptions.BackgroundConcurrency"/> - 1 more, all at low priority.</summary>
    private int Run(int[] order, IReadOnlyList<PackRead> reads, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _framesDone, 0);
        Volatile.Write(ref _framesTotal, order.Length);
        var next = -1;
        var fetched = 0;
        var lastReport = Stopwatch.StartNew();
        void Work()
        {
            int k;
            while ((k = Interlocked.Increment(ref next)) < reads.Count)
            {
                var frames = order.AsSpan(reads[k].FirstFrame, reads[k].FrameCount).ToArray();
                Interlocked.Add(ref fetched, _fetcher.FetchInBackground(frames, cancellationToken));
                var done = Interlocked.Add(ref _framesDone, frames.Length);
                if (lastReport.Elapsed > s_progressInterval)
                {
                    lastReport.Restart();
                    _context.Log($"hydrating: {done}/{order.Length} frames, {MiB(_context.Statistics.FetchedBytes)} fetched");
                }
            }
        }

        var helpers = Enumerable.Range(1, _context.Options.BackgroundConcurrency - 1).Select(_ => BackgroundThread.Start(Work, "cairn-background-fetch")).ToArray();
        Exception? failure = null;
        try
        {
            Work();
        }
#pragma warning disable CA1031 // Rethrown below, once the helpers have stopped too.
        catch (Exception e)
#pragma warning restore CA1031
        {
            failure = e;
        }

        foreach (var helper in helpers)
        {
            try
            {
                helper.GetAwaiter().GetResult();
            }
#pragma warning disable CA1031 // The first failure is the one reported.
            catch (Exception e)
#pragma warning restore CA1031
            {
                failure ??= e;
            }
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        return fetched;
    }

    internal static string MiB(long bytes) => $"{bytes / (1024.0 * 1024.0):0.0} MiB";
}
