using System.Buffers;
using System.Collections.Concurrent;
using Cairn.Format;
using Cairn.Native.Linux;

namespace Cairn.Mount;

/// <summary>
/// Fetches frames from the repository: one ranged read of the frame's compressed bytes, <see cref="FrameCodec.Decode(ReadOnlySpan{byte}, in Cairn.Manifests.FrameRecord, Span{byte}, string)"/>
/// (CRC-32C, exact length), then into the memory and disk caches. Concurrent requests for one frame share one fetch.
/// Demand fetches (a read waits) start at once on the thread pool, never on a FUSE worker; background fetches
/// (prefetch, hydration) read runs of frames on low-priority worker threads and wait while demand fetches are in flight.
/// </summary>
internal sealed class FrameFetcher
{
    private readonly MountContext _context;
    private readonly ConcurrentDictionary<int, PendingFrame> _inFlight = new();
    private readonly ActivityGate _gate = new();
    private readonly ActivityGate _work = new();

    public FrameFetcher(MountContext context)
    {
        _context = context;
        Memory = new MemoryFrames(context.Options.MemoryFrames);
    }

    public MemoryFrames Memory { get; }

    /// <summary>
    /// A reference to the decoded frame (release it when done), fetched now or by a fetch already in flight; or null
    /// when the frame is cached after all (in memory or on disk): the caller reads it from there.
    /// </summary>
    public Task<DecodedFrame?> FetchAsync(int frame)
    {
        while (true)
        {
            var pending = new PendingFrame(frame);
            var existing = _inFlight.GetOrAdd(frame, pending);
            if (existing == pending && IsCached(frame))
            {
                // A fetch of this frame ended between the caller's cache lookup and now: a fetch caches the frame
                // before it leaves the in-flight table, so fetching it again would only repeat that fetch.
                _inFlight.TryRemove(new KeyValuePair<int, PendingFrame>(frame, pending));
                pending.CompleteCached();
                return Task.FromResult<DecodedFrame?>(null);
            }

            var joined = existing.TryJoin();
            if (joined is null)
            {
                _inFlight.TryRemove(new KeyValuePair<int, PendingFrame>(frame, existing));
                continue;
            }

            if (existing == pending)
            {
                StartOnDemand(pending);
            }

            return joined;
        }
    }

    /// <summary>True if the frame is cached on disk or being fetched.</summary>
    public bool IsAvailable(int frame) => _inFlight.ContainsKey(frame) || IsOnDisk(frame);

    private bool IsCached(int frame) => Memory.Contains(frame) || IsOnDisk(frame);

    private bool IsOnDisk(int frame)
    {
        ref readonly var f = ref _context.Manifest.Frames[frame];
        return _context.Cache?.Contains(_context.Manifest.Packs[f.Pack], f.Offset) ?? false;
    }

    /// <summary>
    /// Fetches the frames of <paramref name="frames"/> (one pack, ascending offsets) that are neither cached nor in
    /// flight, with one ranged read from the first to the last of them, once no demand fetch is in flight.
    /// Blocks the calling thread throughout (a low-priority background worker: the decoding is done at its priority).
    /// Returns the number of frames fetched. A frame that fails is logged and skipped (a read will retry it).
    /// </summary>
    public int FetchInBackground(IReadOnlyList<int> frames, CancellationToken cancellationToken)
    {
        _gate.WaitIdleAsync(cancellationToken).GetAwaiter().GetResult();
        _work.Enter();
        try
        {
            return FetchRun(frames, cancellationToken);
        }
        finally
        {
            _work.Exit();
        }
    }

    /// <summary>Completes once no fetch is in progress (all delivered to their readers and stored).</summary>
    public Task DrainAsync() => _work.WaitIdleAsync(CancellationToken.None);

    private void StartOnDemand(PendingFrame pending)
    {
        _work.Enter();
        _ = Task.Run(async () =>
        {
            try
            {
                await FetchOnDemandAsync(pending).ConfigureAwait(false);
            }
            finally
            {
                _work.Exit();
            }
        }, CancellationToken.None);
    }

    private int FetchRun(IReadOnlyList<int> frames, CancellationToken cancellationToken)
    {
        var claimed = new List<PendingFrame>();
        foreach (var frame in frames)
        {
            var pending = new PendingFrame(frame);
            if (!IsAvailable(frame) && _inFlight.TryAdd(frame, pending))
            {
                claimed.Add(pending);
            }
        }

        if (claimed.Count == 0)
        {
            return 0;
        }

        var m = _context.Manifest;
        ref readonly var head = ref m.Frames[claimed[0].Frame];
        ref readonly var tail = ref m.Frames[claimed[^1].Frame];
        var start = head.Offset;
        var length = checked((int)(tail.Offset + tail.CompressedLength - start));
        var key = _context.PackKey((int)head.Pack);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var done = 0;
        try
        {
            _context.Store.ReadRangeAsync(key, start, buffer.AsMemory(0, length), cancellationToken).AsTask().GetAwaiter().GetResult();
            foreach (var pending in claimed)
            {
                ref readonly var f = ref m.Frames[pending.Frame];
                Deliver(pending, buffer.AsSpan((int)(f.Offset - start), (int)f.CompressedLength), demand: false);
                done++;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _context.Log($"background fetch from {key} failed: {e.Message}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);

            // Frames not delivered (the read failed or was cancelled): drop them, or let a demand fetch finish those readers wait for.
            for (var i = done; i < claimed.Count; i++)
            {
                var pending = claimed[i];
                if (pending.TryAbandon())
                {
                    _inFlight.TryRemove(new KeyValuePair<int, PendingFrame>(pending.Frame, pending));
                }
                else
                {
                    StartOnDemand(pending);
                }
            }
        }

        return done;
    }

    private async Task FetchOnDemandAsync(PendingFrame pending)
    {
        _gate.Enter();
        var gateOpen = true;
        try
        {
            ref readonly var f = ref _context.Manifest.Frames[pending.Frame];
            var length = (int)f.CompressedLength;
            var offset = f.Offset;
            var key = _context.PackKey((int)f.Pack);
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                await _context.Store.ReadRangeAsync(key, offset, buffer.AsMemory(0, length)).ConfigureAwait(false);
                _gate.Exit();
                gateOpen = false;
                Deliver(pending, buffer.AsSpan(0, length), demand: true);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
#pragma warning disable CA1031 // Every failure goes to the readers waiting for the frame (they answer EIO).
        catch (Exception e)
#pragma warning restore CA1031
        {
            _inFlight.TryRemove(new KeyValuePair<int, PendingFrame>(pending.Frame, pending));
            pending.Fail(e);
        }
        finally
        {
            if (gateOpen)
            {
                _gate.Exit();
            }
        }
    }

    /// <summary>Decodes a fetched frame, hands it to the readers waiting, stores it on disk, and ends the fetch.</summary>
    private void Deliver(PendingFrame pending, ReadOnlySpan<byte> compressed, bool demand)
    {
        ref readonly var f = ref _context.Manifest.Frames[pending.Frame];
        var key = _context.PackKey((int)f.Pack);
        _context.Statistics.CountFetch(demand, compressed.Length);
        var decoded = new DecodedFrame(pending.Frame, (int)f.UncompressedLength);
        try
        {
            FrameCodec.Decode(compressed, f, decoded.Data, key);
        }
        catch (CorruptDataException e)
        {
            decoded.Release();
            _inFlight.TryRemove(new KeyValuePair<int, PendingFrame>(pending.Frame, pending));
            pending.Fail(e);
            if (!demand)
            {
                _context.Log(e.Message);
            }

            return;
        }

        if (demand)
        {
            Memory.Add(decoded);
        }

        pending.Complete(decoded);

        // A background fetch writes the cache in the idle I/O class, behind every read the disk has queued. Only the
        // write: its read of the pack stays at normal priority, because a demand read may have joined it and waits.
        var idle = !demand && LinuxProcess.TrySetThreadIoIdle(true);
        try
        {
            _context.Cache?.TryStore(_context.Manifest.Packs[f.Pack], f.Offset, decoded.Data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _context.Log($"cannot store a frame of {key} in the cache: {e.Message}");
        }
        finally
        {
            if (idle)
            {
                LinuxProcess.TrySetThreadIoIdle(false);
            }

            _inFlight.TryRemove(new KeyValuePair<int, PendingFrame>(pending.Frame, pending));
            decoded.Release();
        }
    }
}
