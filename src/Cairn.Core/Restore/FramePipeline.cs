using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using Cairn.Buffers;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;
using Cairn.Storage;

namespace Cairn.Restore;

/// <summary>
/// Fetches the reads of a <see cref="RestorePlan"/> ahead, within a byte budget, and hands their frames to a fixed
/// set of decode threads (<see cref="FrameQueue"/>), which check, decompress and pass each frame on. The unit of CPU
/// work is the frame, not the read: a 16 MiB read holds 8–40 frames, and a worker that had to decode all of them
/// alone could be left working by itself at the end of a restore while the other cores idle (measured: wall time
/// above CPU time on 2 cores). Reads run on the thread pool (they wait on storage); decoding runs on dedicated
/// threads, so a read that blocks in pread(2) never holds up a frame that is ready.
/// </summary>
/// <remarks>
/// Memory: at most <see cref="Limits.ReadAheadBytes"/> of fetched, not yet decoded data (whole reads, at least two),
/// plus one frame buffer per decode thread. A read's buffer is reused once every one of its frames is done.
/// The first failure — a read, a checksum, a write — stops everything and is the exception thrown, once every
/// thread has stopped.
/// </remarks>
internal sealed class FramePipeline : IDisposable
{
    /// <summary>Called on a decode thread with a frame's verified-CRC, decompressed bytes (<paramref name="key"/> names its pack).</summary>
    public delegate void FrameHandler(int frame, ReadOnlySpan<byte> data, string key);

    /// <param name="ReadAheadBytes">Fetched data held at once (rounded to whole reads, at least two).</param>
    /// <param name="Reads">Ranged reads in flight at once (at most as many as fit the budget).</param>
    /// <param name="DecodeThreads">Threads decoding and handling frames.</param>
    public readonly record struct Limits(long ReadAheadBytes, int Reads, int DecodeThreads);

    private readonly IObjectStore _store;
    private readonly Manifest _m;
    private readonly RestorePlan _plan;
    private readonly FrameQueue _queue = new();
    private readonly ConcurrentBag<PageAlignedBuffer> _freeBuffers = [];
    private readonly ConcurrentBag<PageAlignedBuffer> _allBuffers = [];
    private readonly SemaphoreSlim _bufferSlots;
    private readonly CancellationTokenSource _stop;
    private readonly CancellationTokenRegistration _stopQueue;
    private readonly int _readers;
    private readonly int _decodeThreads;
    private Exception? _failure;
    private int _nextRead = -1;
    private long _bytesDecompressed;

    private FramePipeline(IObjectStore store, Manifest m, RestorePlan plan, Limits limits, CancellationToken cancellationToken)
    {
        _store = store;
        _m = m;
        _plan = plan;
        var buffers = (int)Math.Clamp(limits.ReadAheadBytes / Math.Max(plan.MaxReadLength, 1), 2, Math.Max(plan.Reads.Count, 2));
        _bufferSlots = new SemaphoreSlim(buffers);
        _readers = Math.Clamp(limits.Reads, 1, buffers);
        _decodeThreads = Math.Max(limits.DecodeThreads, 1);
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _stopQueue = _stop.Token.Register(_queue.Stop);
    }

    /// <summary>Runs the plan; returns the bytes decompressed (segmented frames decompress only the segments the plan needs).</summary>
    public static async Task<long> RunAsync(IObjectStore store, Manifest m, RestorePlan plan, Limits limits, FrameHandler handle, CancellationToken cancellationToken)
    {
        using var pipeline = new FramePipeline(store, m, plan, limits, cancellationToken);
        await pipeline.RunAsync(handle, cancellationToken).ConfigureAwait(false);
        return pipeline._bytesDecompressed;
    }

    private async Task RunAsync(FrameHandler handle, CancellationToken cancellationToken)
    {
        var readers = new Task[_readers];
        for (var i = 0; i < readers.Length; i++)
        {
            readers[i] = Task.Run(ReadLoopAsync, CancellationToken.None);
        }

        var decoders = new Task[_decodeThreads];
        for (var i = 0; i < decoders.Length; i++)
        {
            // LongRunning: a thread of its own, outside the thread pool.
            decoders[i] = Task.Factory.StartNew(() => DecodeLoop(handle), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        await Task.WhenAll(readers).ConfigureAwait(false);
        _queue.Complete();
        await Task.WhenAll(decoders).ConfigureAwait(false);
        if (_failure is not null)
        {
            ExceptionDispatchInfo.Throw(_failure);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Claims the next read in plan order once a buffer is free, fetches it, queues its frames. Never throws.</summary>
    private async Task ReadLoopAsync()
    {
        try
        {
            while (true)
            {
                await _bufferSlots.WaitAsync(_stop.Token).ConfigureAwait(false);
                var index = Interlocked.Increment(ref _nextRead);
                if (index >= _plan.Reads.Count)
                {
                    return;
                }

                var read = _plan.Reads[index];
                if (!_freeBuffers.TryTake(out var buffer))
                {
                    // Page-aligned: the kernel copies to and from it at full speed (see PageAlignedBuffer).
                    buffer = new PageAlignedBuffer(_plan.MaxReadLength);
                    _allBuffers.Add(buffer);
                }

                var fetched = new FetchedRead(buffer, read, ObjectKeys.Pack(_m.Packs[read.Pack]));
                await _store.ReadRangeAsync(fetched.Key, read.Offset, buffer.Memory[..read.Length], _stop.Token).ConfigureAwait(false);
                _queue.Add(fetched);
            }
        }
#pragma warning disable CA1031 // Every failure is reported by RunAsync, after all threads have stopped.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Fail(e);
        }
    }

    /// <summary>Decodes and handles frames until the queue is finished or the pipeline stops. Never throws.</summary>
    private void DecodeLoop(FrameHandler handle)
    {
        using var frameBuffer = new PageAlignedBuffer(_plan.MaxFrameLength);
        try
        {
            var cursor = default(FrameQueue.Cursor);
            while (_queue.TryTake(ref cursor, out var fetched, out var index))
            {
                var frame = _plan.FramesOf(fetched.Read)[index];
                ref readonly var f = ref _m.Frames[frame];
                var data = frameBuffer.Span[..(int)f.UncompressedLength];
                var compressed = fetched.Buffer.Span.Slice((int)(f.Offset - fetched.Read.Offset), (int)f.CompressedLength);
                Interlocked.Add(ref _bytesDecompressed, FrameCodec.Decode(compressed, f, data, fetched.Key, _plan.RangesOf(frame)));
                handle(frame, data, fetched.Key);
                if (Interlocked.Decrement(ref fetched.Pending) == 0)
                {
                    _freeBuffers.Add(fetched.Buffer);
                    _bufferSlots.Release();
                }
            }
        }
#pragma warning disable CA1031 // Every failure is reported by RunAsync, after all threads have stopped.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Fail(e);
        }
    }

    /// <summary>Records the first failure and stops every part; a part that stops because of it is not a failure of its own.</summary>
    private void Fail(Exception e)
    {
        if (e is OperationCanceledException && _stop.IsCancellationRequested)
        {
            return; // stopped: by the caller, or because another part failed (that failure is what gets reported)
        }

        Interlocked.CompareExchange(ref _failure, e, null);
        _stop.Cancel();
    }

    /// <summary>Unmaps the read buffers; called once every reader and decoder has ended.</summary>
    public void Dispose()
    {
        foreach (var buffer in _allBuffers)
        {
            buffer.Dispose();
        }

        _stopQueue.Dispose();
        _bufferSlots.Dispose();
        _stop.Dispose();
    }
}
