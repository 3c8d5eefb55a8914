using Cairn.Native.Linux;
using System.Buffers;
using System.Runtime.ExceptionServices;
using Cairn.Native.Fuse;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Mount;

/// <summary>
/// Answers file reads: maps the byte range to chunk references, copies each piece from a decoded frame in memory or
/// from the disk cache, and zero-fills holes. Every chunk is checked against its SHA-256 before any of its bytes is
/// returned. If all pieces are at hand the read is answered on the FUSE worker; otherwise the missing frames are
/// fetched on the thread pool and the read is answered from there, so a worker never waits for the network.
/// </summary>
internal sealed class ContentReader
{
    private const int MaxAttempts = 4;
    private readonly MountContext _context;
    private readonly FrameFetcher _fetcher;
    private readonly CachedFrameHandles _handles;

    public ContentReader(MountContext context, FrameFetcher fetcher, CachedFrameHandles handles)
    {
        _context = context;
        _fetcher = fetcher;
        _handles = handles;
    }

    public void Read(int entry, long offset, int size, FuseReadReply reply)
    {
        var fileSize = _context.Manifest.Entries[entry].Size;
        if (offset >= fileSize || size <= 0)
        {
            reply.Data([]);
            _context.Statistics.CountRead(0);
            return;
        }

        var length = (int)Math.Min(size, fileSize - offset);
        _context.Trace?.Record(entry, offset, length);
        if (offset == 0)
        {
            _context.Pusher?.MarkSent(entry);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(length);
        List<int>? missing = null;
        bool complete;
        try
        {
            complete = TryFill(entry, offset, buffer.AsSpan(0, length), held: null, ref missing);
        }
#pragma warning disable CA1031 // Any failure is this read's EIO, never the worker's crash.
        catch (Exception e)
#pragma warning restore CA1031
        {
            ArrayPool<byte>.Shared.Return(buffer);
            Fail(reply, entry, offset, e);
            return;
        }

        if (!complete)
        {
            _ = CompleteAsync(entry, offset, buffer, length, missing!, reply);
            return;
        }

        Answer(reply, buffer.AsSpan(0, length));
        ArrayPool<byte>.Shared.Return(buffer);
        PushSiblings(entry, offset, held: null);
    }

    private async Task CompleteAsync(int entry, long offset, byte[] buffer, int length, List<int> firstMissing, FuseReadReply reply)
    {
        var held = new Dictionary<int, DecodedFrame>();
        List<int>? missing = firstMissing;
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var fetches = new List<Task<DecodedFrame?>>();
                foreach (var frame in missing!)
                {
                    if (!held.ContainsKey(frame))
                    {
                        fetches.Add(_fetcher.FetchAsync(frame));
                    }
                }

                ExceptionDispatchInfo? error = null;
                foreach (var fetch in fetches)
                {
                    try
                    {
                        if (await fetch.ConfigureAwait(false) is { } decoded)
                        {
                            held[decoded.Frame] = decoded;
                        }
                    }
#pragma warning disable CA1031 // Collected so every fetched frame is still released; rethrown below.
                    catch (Exception e)
#pragma warning restore CA1031
                    {
                        error ??= ExceptionDispatchInfo.Capture(e);
                    }
                }

                error?.Throw();
                missing = null;
                if (TryFill(entry, offset, buffer.AsSpan(0, length), held, ref missing))
                {
                    Answer(reply, buffer.AsSpan(0, length));
                    PushSiblings(entry, offset, held);
                    return;
                }

                if (attempt == MaxAttempts)
                {
                    throw new IOException($"frames were evicted from the cache {MaxAttempts} times while being read (cache too small for the concurrent reads?)");
                }
            }
        }
#pragma warning disable CA1031 // Any failure is this read's EIO.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Fail(reply, entry, offset, e);
        }
        finally
        {
            foreach (var decoded in held.Values)
            {
                decoded.Release();
            }

            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Answer(FuseReadReply reply, ReadOnlySpan<byte> data)
    {
        // Counted first: once the reader has its bytes, the counters include them.
        _context.Statistics.CountRead(data.Length);
        reply.Data(data);
    }

    /// <summary>
    /// After a read of a file's start is answered: the other files of its directory in the same frame go into the
    /// kernel's page cache (<see cref="FramePusher"/>), from the frame in hand if there is one.
    /// </summary>
    private void PushSiblings(int entry, long offset, Dictionary<int, DecodedFrame>? held)
    {
        if (offset != 0 || _context.Pusher is not { } pusher)
        {
            return;
        }

        var refs = _context.Manifest.ChunkRefsOf(entry);
        if (refs.IsEmpty)
        {
            return;
        }

        var frame = (int)_context.Manifest.Locations[refs[0].Chunk].Frame;
        if (held is not null && held.TryGetValue(frame, out var decoded))
        {
            pusher.Enqueue(entry, frame, decoded);
            return;
        }

        decoded = _fetcher.Memory.TryAcquire(frame);
        pusher.Enqueue(entry, frame, decoded);
        decoded?.Release();
    }

    private void Fail(FuseReadReply reply, int entry, long offset, Exception error)
    {
        _context.Statistics.CountReadError();
        _context.Log($"read of '{_context.Manifest.DisplayPath(entry)}' at offset {offset} failed (EIO): {error.Message}");
        reply.Error(Errno.EIO);
    }

    /// <summary>
    /// Fills <paramref name="buffer"/> with the file's bytes at <paramref name="offset"/> from what is at hand; the
    /// frames that are not are added to <paramref name="missing"/> (then false: the buffer is incomplete).
    /// </summary>
    private bool TryFill(int entry, long offset, Span<byte> buffer, Dictionary<int, DecodedFrame>? held, ref List<int>? missing)
    {
        var m = _context.Manifest;
        var refs = m.ChunkRefsOf(entry);
        var end = offset + buffer.Length;
        var position = offset;
        for (var i = FileLayout.FirstOverlapping(m, refs, offset); i < refs.Length && refs[i].Offset < end; i++)
        {
            var r = refs[i];
            var chunkEnd = FileLayout.End(m, r);
            if (r.Offset > position)
            {
                buffer[(int)(position - offset)..(int)(r.Offset - offset)].Clear(); // a hole
            }

            var from = Math.Max(offset, r.Offset);
            var to = Math.Min(end, chunkEnd);
            if (!TryCopyChunk((int)r.Chunk, (int)(from - r.Offset), buffer[(int)(from - offset)..(int)(to - offset)], held))
            {
                var frame = (int)m.Locations[r.Chunk].Frame;
                missing ??= [];
                if (!missing.Contains(frame))
                {
                    missing.Add(frame);
                }
            }

            position = to;
        }

        if (position < end)
        {
            buffer[(int)(position - offset)..].Clear(); // a hole at the end
        }

        return missing is not { Count: > 0 };
    }

    /// <summary>Copies part of a chunk from a decoded frame or the disk cache; false if its frame is in neither.</summary>
    private bool TryCopyChunk(int chunk, int offsetInChunk, Span<byte> destination, Dictionary<int, DecodedFrame>? held)
    {
        var m = _context.Manifest;
        var location = m.Locations[chunk];
        var frame = (int)location.Frame;
        var length = (int)m.Chunks[chunk].Length;

        DecodedFrame? acquired = null;
        if (held is null || !held.TryGetValue(frame, out var decoded))
        {
            decoded = acquired = _fetcher.Memory.TryAcquire(frame);
        }

        if (decoded is not null)
        {
            try
            {
                var data = decoded.Data.Slice((int)location.OffsetInFrame, length);
                _context.VerifyChunk(chunk, data, _context.PackKey((int)m.Frames[frame].Pack));
                data.Slice(offsetInChunk, destination.Length).CopyTo(destination);
                _context.Statistics.CountMemoryHit();
                return true;
            }
            finally
            {
                acquired?.Release();
            }
        }

        var handle = _handles.Acquire(frame);
        if (handle is null)
        {
            return false;
        }

        try
        {
            if (!CopyFromDisk(handle, chunk, (int)location.OffsetInFrame, length, offsetInChunk, destination))
            {
                // A damaged cache file (the bytes are not the chunk): drop it and fetch the frame again.
                ref readonly var f = ref m.Frames[frame];
                _handles.Drop(frame);
                _context.Cache!.Remove(m.Packs[f.Pack], f.Offset);
                _context.Statistics.CountCacheRepair();
                _context.Log($"cached frame {m.Packs[f.Pack].ToShortString()}@{f.Offset} failed verification; dropped, fetching it again");
                return false;
            }

            _context.Statistics.CountDiskHit();
            return true;
        }
        finally
        {
            CachedFrameHandles.Release(handle);
        }
    }

    private bool CopyFromDisk(SafeFileHandle handle, int chunk, int offsetInFrame, int length, int offsetInChunk, Span<byte> destination)
    {
        if (_context.IsVerified(chunk))
        {
            return CachedFrameHandles.ReadExactly(handle, destination, offsetInFrame + offsetInChunk);
        }

        var chunkBuffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var data = chunkBuffer.AsSpan(0, length);
            if (!CachedFrameHandles.ReadExactly(handle, data, offsetInFrame))
            {
                return false;
            }

            try
            {
                _context.VerifyChunk(chunk, data, "cache");
            }
            catch (CorruptDataException)
            {
                return false;
            }

            data.Slice(offsetInChunk, destination.Length).CopyTo(destination);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunkBuffer);
        }
    }
}
