using System.Diagnostics;
using Cairn.Restore;

namespace Cairn.Mount;

/// <summary>
/// Background fetching after the mount answers: first the frames a trace predicts the workload will read, then (if
/// hydrating) every other frame of the snapshot in pack order, as coalesced ranged reads, a few in flight, each
/// waiting while demand fetches are in flight. Once it is done, no read needs the repository.
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
    /// frames adjacent in a pack read together; returns how many had to be fetched.
    /// </summary>
    public async Task<int> PrefetchAsync(int[] frames, CancellationToken cancellationToken)
        => await RunAsync(frames, PackReads.Coalesce(_context.Manifest, frames, _context.Options.BackgroundReadSize), cancellationToken).ConfigureAwait(false);

    /// <summary>Fetches every frame of the snapshot not yet cached; returns how many had to be fetched.</summary>
    public async Task<int> HydrateAsync(CancellationToken cancellationToken)
    {
        var plan = RestorePlan.Build(_context.Manifest, _context.Options.BackgroundReadSize);
        var order = plan.Reads.SelectMany(r => plan.FramesOf(r).ToArray()).ToArray();
        return await RunAsync(order, plan.Reads, cancellationToken).ConfigureAwait(false);
    }

    private async Task<int> RunAsync(int[] order, IReadOnlyList<PackRead> reads, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _framesDone, 0);
        Volatile.Write(ref _framesTotal, order.Length);
        var fetched = 0;
        var lastReport = Stopwatch.StartNew();
        await Parallel.ForEachAsync(reads, new ParallelOptions { MaxDegreeOfParallelism = _context.Options.BackgroundConcurrency, CancellationToken = cancellationToken }, async (read, ct) =>
        {
            var frames = order.AsSpan(read.FirstFrame, read.FrameCount).ToArray();
            Interlocked.Add(ref fetched, await _fetcher.FetchInBackgroundAsync(frames, ct).ConfigureAwait(false));
            var done = Interlocked.Add(ref _framesDone, frames.Length);
            if (lastReport.Elapsed > s_progressInterval)
            {
                lastReport.Restart();
                _context.Log($"hydrating: {done}/{order.Length} frames, {MiB(_context.Statistics.FetchedBytes)} fetched");
            }
        }).ConfigureAwait(false);
        return fetched;
    }

    internal static string MiB(long bytes) => $"{bytes / (1024.0 * 1024.0):0.0} MiB";
}
