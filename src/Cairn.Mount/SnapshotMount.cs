using System.Diagnostics;
using System.Runtime.Versioning;
using Cairn.Diagnostics;
using Cairn.Repository;
using Cairn.Native.Fuse;

namespace Cairn.Mount;

/// <summary>
/// A snapshot mounted lazily: usable as soon as the manifest is loaded (the only object needed), file data fetched
/// by frame as it is read, verified, and kept in the repository's shared disk cache. In the background it prefetches
/// what the trace of the tree (or of an ancestor) says the workload reads first, then hydrates the rest, and records
/// a trace of its own if the tree has none.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class SnapshotMount : IMountSession
{
    private readonly FuseMount _fuse;
    private readonly MountContext _context;
    private readonly FrameFetcher _fetcher;
    private readonly CachedFrameHandles _handles;
    private readonly Hydrator _hydrator;
    private readonly CancellationTokenSource _stopping = new();
    private Task _background = Task.CompletedTask;
    private Task _tracing = Task.CompletedTask;
    private volatile bool _treeHasTrace;
    private int _disposed;

    private SnapshotMount(FuseMount fuse, MountContext context, FrameFetcher fetcher, CachedFrameHandles handles)
    {
        _fuse = fuse;
        _context = context;
        _fetcher = fetcher;
        _handles = handles;
        _hydrator = new Hydrator(context, fetcher);
    }

    public string MountPoint => _fuse.MountPoint;

    public SnapshotRecord Snapshot => _context.Snapshot;

    public MountStatistics Statistics => _context.Statistics;

    /// <summary>The repository's frame cache directory (null without a disk cache).</summary>
    public string? CacheDirectory => _context.Cache?.Directory;

    /// <summary>Completes when prefetching and hydration are over (at once if neither runs).</summary>
    public Task Background => _background;

    /// <summary>Completes once the recorded trace is written (or there is none to write).</summary>
    public Task TraceWritten => _tracing;

    /// <summary>Where the current background phase is: frames handled and frames in the phase.</summary>
    public (int Done, int Total) HydrationProgress => _hydrator.Progress;

    /// <summary>True until the FUSE session has ended (unmounted by us or externally).</summary>
    public bool IsRunning => _fuse.IsRunning;

    /// <summary>
    /// Mounts <paramref name="snapshot"/> at <paramref name="mountPoint"/> (an existing directory; a stale mount left
    /// there by a crashed server is detached first, a live Cairn mount refused) and returns once the kernel can use it.
    /// </summary>
    public static async Task<SnapshotMount> StartAsync(Repository.Repository repository, SnapshotRecord snapshot, string mountPoint, MountOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        options ??= new MountOptions();
        options.Validate();
        var stale = MountPoints.Prepare(mountPoint); // before anything is opened: it may refuse
        var manifest = await repository.ReadManifestAsync(snapshot, cancellationToken).ConfigureAwait(false);
        PhaseTrace.Mark("mount: manifest loaded");
        var cache = FrameCache.Open(options.CacheRoot ?? LocalCache.DefaultRoot, repository.Config.Id, options.CacheSize);
        PhaseTrace.Mark("mount: frame cache opened");
        var context = new MountContext(repository.Store, snapshot, manifest, cache, options)
        {
            // Recording starts with the first read, before the mount knows whether the tree already has a trace.
            Trace = options.Trace ? new TraceRecorder(manifest, options.TraceWindow, options.TraceBytes) : null,
        };
        var fetcher = new FrameFetcher(context);
        var handles = new CachedFrameHandles(context);
        context.Pusher = options.PushSiblings ? new FramePusher(context, handles) : null;
        var fileSystem = new SnapshotFileSystem(context, new ContentReader(context, fetcher, handles));

        if (stale)
        {
            context.Log($"detached a stale mount at {mountPoint} (its server had died)");
        }

        var fuseOptions = options.Fuse with
        {
            FsName = MountPoints.SourcePrefix + snapshot.Id.ToShortString(),
            // Pushes reach only the inodes the kernel holds: listings with attributes give it every listed file.
            AlwaysReadDirPlus = options.PushSiblings,
            OnException = options.Fuse.OnException ?? ((operation, e) => context.Log($"{operation} failed: {e}")),
        };
        FuseMount fuse;
        try
        {
            fuse = FuseMount.Start(mountPoint, fileSystem, fuseOptions);
        }
        catch
        {
            handles.Dispose();
            throw;
        }

        PhaseTrace.Mark("mount: kernel mount made");
        context.Pusher?.Start(fuse);
        if (options.ReadAheadKiB > 0)
        {
            fuse.TrySetReadAhead(Math.Min(options.ReadAheadKiB, options.Fuse.MaxReadKiB));
        }

        var mount = new SnapshotMount(fuse, context, fetcher, handles);
        mount.StartBackground(repository);
        return mount;
    }

    /// <summary>Writes a line to the mount's log.</summary>
    internal void Log(string message) => _context.Log(message);

    /// <summary>Completes when the session ends, whoever unmounted it.</summary>
    public Task WaitAsync(CancellationToken cancellationToken = default) => _fuse.WaitAsync(cancellationToken);

    /// <summary>Unmounts (lazily if busy); background work stops. Idempotent.</summary>
    public FuseUnmountResult Unmount()
    {
        _stopping.Cancel();

        // First, while the workers still answer the reads a store may be waiting for (see FramePusher).
        _context.Pusher?.Dispose();
        return _fuse.Unmount();
    }

    /// <summary>Unmounts, stops background work, writes the recorded trace if any, and releases the cache files.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            Unmount();
        }
        finally
        {
            _context.Trace?.Close();
            await Quietly(_background).ConfigureAwait(false);
            await Quietly(_tracing).ConfigureAwait(false);
            await _fetcher.DrainAsync().ConfigureAwait(false);
            _fetcher.Memory.Clear();
            _handles.Dispose();
            _stopping.Dispose();
        }
    }

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void StartBackground(Repository.Repository repository)
    {
        var options = _context.Options;
        var token = _stopping.Token;
        if (_context.Trace is { } recorder)
        {
            _tracing = Task.Run(() => RecordTraceAsync(repository, recorder), CancellationToken.None);
        }

        if (!options.Trace && !options.Hydrate)
        {
            return;
        }

        _background = BackgroundThread.Start(() =>
        {
            try
            {
                RunBackground(repository, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
#pragma warning disable CA1031 // Background work must never take the mount down; it is logged instead.
            catch (Exception e)
#pragma warning restore CA1031
            {
                _context.Log($"background fetching stopped: {e.Message}");
            }
        }, "cairn-background");
    }

    /// <summary>Prefetch, then hydration: on a low-priority thread, which it blocks (all its CPU work runs at that priority).</summary>
    private void RunBackground(Repository.Repository repository, CancellationToken cancellationToken)
    {
        var options = _context.Options;
        if (options.Trace)
        {
            var stopwatch = Stopwatch.StartNew();
            var found = TraceStore.FindAsync(repository, _context, cancellationToken).GetAwaiter().GetResult();
            var ownTrace = found is { } f && f.Source.TreeHash == _context.Snapshot.TreeHash;
            if (ownTrace)
            {
                // The tree's first trace stays (traces are create-only): nothing to record.
                _treeHasTrace = true;
                _context.Trace?.Close();
            }

            if (found is var (chunks, source))
            {
                var frames = TraceStore.MapToFrames(_context.Manifest, chunks);
                var fetched = _hydrator.Prefetch(frames, cancellationToken);
                _context.Log($"prefetched {frames.Length} frames ({fetched} fetched) predicted by the trace of {(ownTrace ? "this tree" : "ancestor " + source.Id.ToShortString())} in {stopwatch.Elapsed.TotalSeconds:0.00} s");
            }
        }

        if (options.Hydrate)
        {
            var stopwatch = Stopwatch.StartNew();
            var fetched = _hydrator.Hydrate(cancellationToken);
            _context.Log($"hydrated: {_hydrator.Progress.Total} frames present ({fetched} fetched, {Hydrator.MiB(_context.Statistics.FetchedBytes)} fetched in all) in {stopwatch.Elapsed.TotalSeconds:0.00} s");
        }
    }

    /// <summary>Waits for the recording window (from the first read) to close, then writes the trace.</summary>
    private async Task RecordTraceAsync(Repository.Repository repository, TraceRecorder recorder)
    {
        try
        {
            await recorder.Started.WaitAsync(_stopping.Token).ConfigureAwait(false);
            await Task.WhenAny(recorder.Closed, Task.Delay(recorder.Window, _stopping.Token)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Unmounted while recording: write what was recorded.
        }

        recorder.Close();
        if (_treeHasTrace)
        {
            return;
        }

        try
        {
            await TraceStore.WriteAsync(repository.Store, _context, recorder, CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A trace is advisory: failing to write one is logged, never fatal.
        catch (Exception e)
#pragma warning restore CA1031
        {
            _context.Log($"could not write the trace: {e.Message}");
        }
    }
}
