using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Mount;

/// <summary>
/// Open handles to the disk-cached frames of one mount, so a read costs a <c>pread</c>, not an open and a close.
/// A handle in use is reference-counted (<see cref="System.Runtime.InteropServices.SafeHandle.DangerousAddRef"/>), so dropping it from the table
/// never closes it under a reader. Using a frame touches its file (at most once a minute) for the LRU order.
/// </summary>
internal sealed class CachedFrameHandles : IDisposable
{
    private const int Capacity = 256;
    private static readonly long s_touchInterval = Stopwatch.Frequency * 60;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, Entry> _open = [];
    private readonly MountContext _context;
    private long _clock;

    public CachedFrameHandles(MountContext context)
    {
        _context = context;
    }

    /// <summary>
    /// A handle to the cached file of <paramref name="frame"/> with a reference taken (give it back with
    /// <see cref="Release"/>), or null if the frame is not in the disk cache.
    /// </summary>
    public SafeFileHandle? Acquire(int frame)
    {
        var cache = _context.Cache;
        if (cache is null)
        {
            return null;
        }

        SafeFileHandle? handle;
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            if (_open.TryGetValue(frame, out var entry))
            {
                var success = false;
                entry.Handle.DangerousAddRef(ref success);
                entry.LastUse = ++_clock;
                if (now - entry.Touched > s_touchInterval)
                {
                    entry.Touched = now;
                    FrameCache.Touch(entry.Handle);
                }

                return entry.Handle;
            }
        }

        ref readonly var f = ref _context.Manifest.Frames[frame];
        handle = cache.TryOpen(_context.Manifest.Packs[f.Pack], f.Offset, (int)f.UncompressedLength);
        if (handle is null)
        {
            return null;
        }

        FrameCache.Touch(handle);
        SafeFileHandle? duplicate = null;
        SafeFileHandle? evicted = null;
        lock (_lock)
        {
            if (_open.TryGetValue(frame, out var raced))
            {
                duplicate = handle;
                handle = raced.Handle;
            }
            else
            {
                if (_open.Count >= Capacity)
                {
                    var oldest = _open.MinBy(e => e.Value.LastUse);
                    _open.Remove(oldest.Key);
                    evicted = oldest.Value.Handle;
                }

                _open[frame] = new Entry(handle) { LastUse = ++_clock, Touched = now };
            }

            var success = false;
            handle.DangerousAddRef(ref success);
        }

        duplicate?.Dispose();
        evicted?.Dispose();
        return handle;
    }

    public static void Release(SafeFileHandle handle) => handle.DangerousRelease();

    /// <summary>Fills <paramref name="destination"/> from a cached frame at <paramref name="offset"/>; false if the file is shorter.</summary>
    public static bool ReadExactly(SafeFileHandle handle, Span<byte> destination, long offset)
    {
        var total = 0;
        while (total < destination.Length)
        {
            var n = RandomAccess.Read(handle, destination[total..], offset + total);
            if (n == 0)
            {
                return false;
            }

            total += n;
        }

        return true;
    }

    /// <summary>Forgets the handle of a frame whose cached file turned out damaged (and was removed).</summary>
    public void Drop(int frame)
    {
        SafeFileHandle? handle = null;
        lock (_lock)
        {
            if (_open.Remove(frame, out var entry))
            {
                handle = entry.Handle;
            }
        }

        handle?.Dispose();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var entry in _open.Values)
            {
                entry.Handle.Dispose();
            }

            _open.Clear();
        }
    }

    private sealed class Entry(SafeFileHandle handle)
    {
        public SafeFileHandle Handle { get; } = handle;

        public long LastUse { get; set; }

        public long Touched { get; set; }
    }
}
