using System.Diagnostics;
using Cairn.Native.Linux;
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

    /// <summary>
    /// Runs the reads on <see cref="MountOptions.BackgroundConcurrency"/> dedicated threads at the lowest CPU priority
    /// (nice 19): on a busy machine the decoding takes only what reads and everything else leave over.
    /// </summary>
    private Task<int> RunAsync(int[] order, IReadOnlyList<PackRead> reads, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _framesDone, 0);
        Volatile.Write(ref _framesTotal, order.Length);
        var finished = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var workers = _context.Options.BackgroundConcurrency;
        var next = -1;
        var fetched = 0;
        Exception? failure = null;
        var lastReport = Stopwatch.StartNew();
        for (var w = 0; w < workers; w++)
        {
            new Thread(() =>
            {
                LinuxProcess.TryLowerThreadPriority(19);
                try
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
#pragma warning disable CA1031 // Reported through the task (cancellation included).
                catch (Exception e)
#pragma warning restore CA1031
                {
                    Interlocked.CompareExchange(ref failure, e, null);
                }
                finally
                {
                    if (Interlocked.Decrement(ref workers) == 0)
                    {
                        if (failure is not null)
                        {
                            finished.SetException(failure);
                        }
                        else
                        {
                            finished.SetResult(fetched);
                        }
                    }
                }
            })
            { IsBackground = true, Name = "cairn-background-fetch" }.Start();
        }

        return finished.Task;
    }

    internal static string MiB(long bytes) => $"{bytes / (1024.0 * 1024.0):0.0} MiB";
}
