using Cairn.Manifests;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;

namespace Cairn.Mount;

/// <summary>
/// Puts the files next to the one a read was answered from into the kernel's page cache (FUSE_NOTIFY_STORE), so the
/// reads of them that usually follow never reach the server. A frame holds the files that were next to each other
/// when the tree was walked, and the read has already paid for the frame (fetched, decompressed); what a read of
/// each of those files would still cost is a round trip through FUSE, which on a tree of small files is most of the
/// time (`tar`, `cp -r`, `grep -r`, `node` loading a package).
/// <para>
/// What is pushed: the files of the read file's directory that lie wholly in the same frame (every chunk there, in
/// order, no holes) and that were neither read nor pushed before, each verified first. The kernel takes a store only
/// for an inode it holds, i.e. one that was listed (the mount lists with readdirplus) or looked up; a file it does not
/// hold is left to its reads. Each file is tried once.
/// </para>
/// <para>
/// The frame is the one the read was answered from: fetched, in memory, or in the disk cache, in which case the
/// pusher reads the part of it that holds those files. That part does not join the frames in memory: a damaged cache
/// file must stay where the reads find it, drop it and fetch it again.
/// </para>
/// <para>
/// The work is done on a thread of its own, never on a FUSE worker: a store waits for the pages it fills, and a page
/// the kernel is reading ahead stays locked until a worker answers that read; a worker that read the disk cache for
/// the pusher would also keep libfuse starting more workers. The queue is short, and work that does not fit is
/// dropped (those files are read as usual), so the pusher never holds back a read or many frames.
/// </para>
/// </summary>
internal sealed class FramePusher : IDisposable
{
    private const int MaxQueued = 8;
    private readonly MountContext _context;
    private readonly CachedFrameHandles _handles;
    private readonly int[] _sent;
    private readonly Queue<(int Entry, int Frame, DecodedFrame? Decoded)> _queue = new();
    private readonly object _lock = new();
    private FrameFiles? _files;
    private FuseMount? _mount; // guarded by _lock; null before Start and after Dispose
    private bool _busy; // guarded by _lock: an item is being pushed

    public FramePusher(MountContext context, CachedFrameHandles handles)
    {
        _context = context;
        _handles = handles;
        _sent = new int[(context.Manifest.Count + 31) / 32];
    }

    /// <summary>Starts pushing into <paramref name="mount"/>, on a thread of its own.</summary>
    public void Start(FuseMount mount)
    {
        lock (_lock)
        {
            _mount = mount;
        }

        new Thread(Run) { IsBackground = true, Name = "cairn-push" }.Start();
    }

    /// <summary>
    /// Notes that the kernel is getting <paramref name="entry"/>'s data from a read, so pushing it would repeat it.
    /// </summary>
    public void MarkSent(int entry) => TryMark(entry);

    /// <summary>
    /// After a read of <paramref name="entry"/>'s start was answered from <paramref name="frame"/>: queues the push of
    /// the directory's other files in that frame, if any is left. <paramref name="decoded"/> is the frame if the read
    /// had it in memory (the queue takes its own reference), else null: the pusher reads the disk cache. Never blocks.
    /// </summary>
    public void Enqueue(int entry, int frame, DecodedFrame? decoded)
    {
        if (UnsentRange(entry, frame).Length == 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_mount is null || _queue.Count >= MaxQueued || (decoded is not null && !decoded.TryAddReference()))
            {
                return;
            }

            _queue.Enqueue((entry, frame, decoded));
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// Stops pushing, drops what is queued, and waits for the push in progress to end. Call it while the FUSE workers
    /// still serve: a store in progress may wait for a page until a worker answers the read that locked it, and
    /// would wait forever once they are gone (holding up the session's teardown).
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _mount = null;
            while (_queue.TryDequeue(out var item))
            {
                item.Decoded?.Release();
            }

            Monitor.PulseAll(_lock);
            while (_busy)
            {
                Monitor.Wait(_lock);
            }
        }
    }

    private void Run()
    {
        while (true)
        {
            FuseMount? mount;
            (int Entry, int Frame, DecodedFrame? Decoded) item;
            lock (_lock)
            {
                while (_mount is not null && _queue.Count == 0)
                {
                    Monitor.Wait(_lock); // woken by Enqueue and Dispose
                }

                mount = _mount;
                if (mount is null || !_queue.TryDequeue(out item))
                {
                    return;
                }

                _busy = true;
            }

            var decoded = item.Decoded;
            try
            {
                decoded ??= LoadFromDisk(item.Entry, item.Frame);
                if (decoded is not null)
                {
                    PushSiblings(mount, item.Entry, decoded);
                }
            }
#pragma warning disable CA1031 // A failed push costs the reads it would have saved, never the mount.
            catch (Exception e)
#pragma warning restore CA1031
            {
                _context.Log($"pushing files into the page cache failed: {e.Message}");
            }
            finally
            {
                decoded?.Release();
                lock (_lock)
                {
                    _busy = false;
                    Monitor.PulseAll(_lock);
                }
            }
        }
    }

    /// <summary>
    /// Reads the part of a frame of the disk cache that holds the files of <paramref name="entry"/>'s directory not
    /// sent yet (one read), or null if there is none or the frame is not cached.
    /// </summary>
    private DecodedFrame? LoadFromDisk(int entry, int frame)
    {
        var (start, length) = UnsentRange(entry, frame);
        if (length == 0 || _handles.Acquire(frame) is not { } handle)
        {
            return null;
        }

        var piece = new DecodedFrame(frame, length, start);
        try
        {
            if (CachedFrameHandles.ReadExactly(handle, piece.Data, start))
            {
                return piece;
            }
        }
        catch (IOException)
        {
            // The cached file cannot be read: its files are left to their reads, which deal with it.
        }
        finally
        {
            CachedFrameHandles.Release(handle);
        }

        piece.Release();
        return null;
    }

    /// <summary>
    /// Where the files of <paramref name="entry"/>'s directory in <paramref name="frame"/> that were neither read nor
    /// pushed lie in the frame: from the first of them to the end of the last. Length 0 if there are none.
    /// </summary>
    private (int Start, int Length) UnsentRange(int entry, int frame)
    {
        var m = _context.Manifest;
        int start = int.MaxValue, end = 0;
        foreach (var sibling in SiblingsIn(entry, frame))
        {
            if (!IsSent(sibling))
            {
                var at = (int)m.Locations[m.ChunkRefsOf(sibling)[0].Chunk].OffsetInFrame;
                start = Math.Min(start, at);
                end = Math.Max(end, at + (int)m.Entries[sibling].Size);
            }
        }

        return start < end ? (start, end - start) : (0, 0);
    }

    private void PushSiblings(FuseMount mount, int entry, DecodedFrame decoded)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var m = _context.Manifest;
        foreach (var sibling in SiblingsIn(entry, decoded.Frame))
        {
            var start = (int)m.Locations[m.ChunkRefsOf(sibling)[0].Chunk].OffsetInFrame - decoded.Start;
            var size = (int)m.Entries[sibling].Size;
            if (start < 0 || start + size > decoded.Length || !TryMark(sibling))
            {
                continue; // outside the piece of the frame at hand, or read or pushed already
            }

            var data = decoded.Data.Slice(start, size);
            if (!Verify(m, sibling, data, decoded.Frame))
            {
                return; // logged; its own reads find the damage too (and fetch the frame again, or answer EIO)
            }

            var result = mount.NotifyStore((ulong)sibling + 1, 0, data);
            if (result == 0)
            {
                _context.Statistics.CountPush(data.Length);
            }
            else if (result != Errno.ENOENT)
            {
                return; // the session is ending, or the kernel refuses stores
            }
        }
    }

    /// <summary>The files of <paramref name="entry"/>'s directory that lie wholly in <paramref name="frame"/>.</summary>
    private ReadOnlySpan<int> SiblingsIn(int entry, int frame)
    {
        var m = _context.Manifest;
        var files = (_files ??= FrameFiles.Build(m)).Of(frame);
        ref readonly var directory = ref m.Entries[m.ParentOf(entry)];
        int first = (int)directory.First, end = first + (int)directory.Count;
        var from = files.BinarySearch(first);
        from = from < 0 ? ~from : from;
        var to = files[from..].BinarySearch(end);
        return files.Slice(from, to < 0 ? ~to : to);
    }

    /// <summary>Checks every chunk of a file's bytes against its hash; false (logged) if one fails.</summary>
    private bool Verify(Manifest m, int entry, ReadOnlySpan<byte> data, int frame)
    {
        var at = 0;
        try
        {
            foreach (var r in m.ChunkRefsOf(entry))
            {
                var length = (int)m.Chunks[r.Chunk].Length;
                _context.VerifyChunk((int)r.Chunk, data.Slice(at, length), _context.PackKey((int)m.Frames[frame].Pack));
                at += length;
            }
        }
        catch (CorruptDataException e)
        {
            _context.Log($"not put into the page cache: {e.Message}");
            return false;
        }

        return true;
    }

    private bool IsSent(int entry) => (Volatile.Read(ref _sent[entry >> 5]) & (1 << (entry & 31))) != 0;

    private bool TryMark(int entry)
    {
        var bit = 1 << (entry & 31);
        return (Interlocked.Or(ref _sent[entry >> 5], bit) & bit) == 0;
    }

    /// <summary>
    /// For each frame, the regular files that lie wholly in it: every chunk in that frame, one after the other in
    /// file order and in the frame, no holes. Hardlink entries are left out: their target is pushed, under its own
    /// directory and inode. Built on first use (one pass over the entries).
    /// </summary>
    private sealed class FrameFiles
    {
        private readonly int[] _start;
        private readonly int[] _entries;

        private FrameFiles(int[] start, int[] entries)
        {
            _start = start;
            _entries = entries;
        }

        public ReadOnlySpan<int> Of(int frame) => _entries.AsSpan(_start[frame], _start[frame + 1] - _start[frame]);

        public static FrameFiles Build(Manifest m)
        {
            var frameOf = new int[m.Count];
            var start = new int[m.Frames.Length + 1];
            for (var e = 0; e < m.Count; e++)
            {
                frameOf[e] = WholeIn(m, e);
                if (frameOf[e] >= 0)
                {
                    start[frameOf[e] + 1]++;
                }
            }

            for (var f = 0; f < m.Frames.Length; f++)
            {
                start[f + 1] += start[f];
            }

            var next = start[..^1];
            var entries = new int[start[^1]];
            for (var e = 0; e < m.Count; e++)
            {
                if (frameOf[e] >= 0)
                {
                    entries[next[frameOf[e]]++] = e;
                }
            }

            return new FrameFiles(start, entries);
        }

        /// <summary>The frame that holds all of <paramref name="entry"/>'s bytes in one piece, or -1.</summary>
        private static int WholeIn(Manifest m, int entry)
        {
            ref readonly var e = ref m.Entries[entry];
            if (e.Kind != EntryKind.Regular || e.Size == 0)
            {
                return -1;
            }

            var refs = m.ChunkRefsOf(entry);
            if (refs.IsEmpty)
            {
                return -1;
            }

            var frame = (int)m.Locations[refs[0].Chunk].Frame;
            long fileOffset = 0;
            var inFrame = m.Locations[refs[0].Chunk].OffsetInFrame;
            foreach (var r in refs)
            {
                ref readonly var location = ref m.Locations[r.Chunk];
                if (r.Offset != fileOffset || location.Frame != frame || location.OffsetInFrame != inFrame)
                {
                    return -1;
                }

                fileOffset += m.Chunks[r.Chunk].Length;
                inFrame += m.Chunks[r.Chunk].Length;
            }

            return fileOffset == e.Size ? frame : -1;
        }
    }
}
