using System.Diagnostics;
using Cairn.Format;
using Cairn.Manifests;

namespace Cairn.Mount;

/// <summary>
/// Records which chunks a mount's workload reads first, in the order it first reads them: from the first read until
/// <see cref="MountOptions.TraceWindow"/> has passed or <see cref="MountOptions.TraceBytes"/> of chunks were seen.
/// </summary>
internal sealed class TraceRecorder
{
    private readonly Manifest _manifest;
    private readonly int[] _seen;
    private readonly List<int> _order = [];
    private readonly long _windowTicks;
    private readonly long _maxBytes;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _startTimestamp;
    private long _bytes;
    private volatile bool _isClosed;

    public TraceRecorder(Manifest manifest, TimeSpan window, long maxBytes)
    {
        _manifest = manifest;
        _seen = new int[(manifest.Chunks.Length + 31) / 32];
        _windowTicks = (long)(window.TotalSeconds * Stopwatch.Frequency);
        _maxBytes = maxBytes;
    }

    /// <summary>Completes at the first recorded read.</summary>
    public Task Started => _started.Task;

    /// <summary>Completes when recording stops (window over, byte budget reached, or <see cref="Close"/>).</summary>
    public Task Closed => _closed.Task;

    public TimeSpan Window => TimeSpan.FromSeconds((double)_windowTicks / Stopwatch.Frequency);

    public void Record(int entry, long offset, int length)
    {
        if (_isClosed)
        {
            return;
        }

        var now = Stopwatch.GetTimestamp();
        if (Interlocked.CompareExchange(ref _startTimestamp, now, 0) == 0)
        {
            _started.TrySetResult();
        }
        else if (now - Volatile.Read(ref _startTimestamp) > _windowTicks)
        {
            Close();
            return;
        }

        var refs = _manifest.ChunkRefsOf(entry);
        var end = offset + length;
        for (var i = FileLayout.FirstOverlapping(_manifest, refs, offset); i < refs.Length && refs[i].Offset < end; i++)
        {
            var chunk = (int)refs[i].Chunk;
            var bit = 1 << (chunk & 31);
            if ((Interlocked.Or(ref _seen[chunk >> 5], bit) & bit) != 0)
            {
                continue;
            }

            lock (_order)
            {
                if (_isClosed)
                {
                    return;
                }

                _order.Add(chunk);
                _bytes += _manifest.Chunks[chunk].Length;
                if (_bytes >= _maxBytes || _order.Count >= TraceFile.MaxChunks)
                {
                    Close();
                }
            }
        }
    }

    public void Close()
    {
        _isClosed = true;
        _closed.TrySetResult();
    }

    /// <summary>The ids of the chunks read, in first-read order.</summary>
    public List<ContentId> ChunkIds()
    {
        lock (_order)
        {
            return [.. _order.Select(c => _manifest.Chunks[c].Id)];
        }
    }
}
