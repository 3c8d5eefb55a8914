using System.Threading.Channels;
using Cairn.Buffers;
using Cairn.Native.Linux;
using Cairn.Threading;

namespace Cairn.Snapshot;

/// <summary>
/// <see cref="Length"/> bytes of a file at <see cref="FileOffset"/>, in <see cref="Buffer"/> after its headroom;
/// <see cref="EndOfExtent"/> marks the last segment of a data extent.
/// </summary>
internal readonly record struct Segment(PageAlignedBuffer Buffer, long FileOffset, int Length, bool EndOfExtent);

/// <summary>
/// Reads large files ahead of the packer, in segments of a few MiB with two reads in flight: the disk works while the
/// packer cuts and hashes the previous segment, and is kept busy enough to give its full speed. A file mostly absent
/// from the page cache is read with O_DIRECT: on this kind of machine (a microVM) a cold buffered read costs five
/// times the CPU of the copy it is, once the reader does anything between reads (measured: 1.8 s of system time for
/// a 1.4 GB image, 0.15 s direct), and the page cache gains nothing from a file read once. A file mostly in the cache (an image just written by a paused VM)
/// is read through it: direct I/O would first have to write its dirty pages back.
/// Each buffer has headroom before the segment, so the packer can put the uncut tail of one segment in front of the
/// next (content-defined chunks straddle segments) without moving the segment itself.
/// </summary>
internal sealed class ReadAhead : IDisposable
{
    public const int SegmentSize = 4 << 20;

    // Reads in flight at once. A virtual disk serves one 4 MiB request at a time at about half the speed it serves
    // two (measured on this machine's virtio disk, O_DIRECT: 310-550 MB/s at one 4 MiB read in flight, 800 MB/s
    // at two), and a single larger request would need larger buffers for the same effect.
    private const int ReadsInFlight = 2;

    // The packer holds two buffers (the segment it cuts, and the previous one until the chunk straddling them is
    // cut), the rest are being read.
    private const int BufferCount = 2 + ReadsInFlight;

    private readonly Channel<PageAlignedBuffer> _free = Channel.CreateUnbounded<PageAlignedBuffer>();
    private readonly PageAlignedBuffer[] _buffers = new PageAlignedBuffer[BufferCount];
    private readonly BlockingIoScheduler _io;

    public ReadAhead(int maxChunk, BlockingIoScheduler io)
    {
        _io = io;
        Headroom = (maxChunk + PageAlignedBuffer.PageSize - 1) / PageAlignedBuffer.PageSize * PageAlignedBuffer.PageSize;
        for (var i = 0; i < BufferCount; i++)
        {
            _buffers[i] = new PageAlignedBuffer(Headroom + SegmentSize);
            _free.Writer.TryWrite(_buffers[i]);
        }
    }

    /// <summary>Unmaps the buffers. Only once no file is being read.</summary>
    public void Dispose()
    {
        foreach (var buffer in _buffers)
        {
            buffer.Dispose();
        }
    }

    /// <summary>Bytes before each segment in its buffer: room for the longest uncut tail.</summary>
    public int Headroom { get; }

    /// <summary>
    /// Starts reading <paramref name="extents"/> of <paramref name="fd"/> in order. The channel ends after the last
    /// segment; the task then says whether every byte was there (false: the file got shorter — the caller retries)
    /// or fails with the read error. Every segment's buffer must be given back with <see cref="Return"/>.
    /// </summary>
    public (ChannelReader<Segment> Segments, Task<bool> Complete) Start(FileDescriptor fd, in StatxInfo stat, IReadOnlyList<(long Offset, long Length)> extents, CancellationToken cancellationToken)
    {
        var direct = PreferDirect(fd, stat) && LinuxFile.TrySetDirect(fd, true);
        var segments = Channel.CreateUnbounded<Segment>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var complete = Task.Run(() => ReadAsync(fd, direct, extents, segments.Writer, cancellationToken), cancellationToken);
        return (segments.Reader, complete);
    }

    public void Return(PageAlignedBuffer buffer) => _free.Writer.TryWrite(buffer);

    private static bool PreferDirect(FileDescriptor fd, in StatxInfo stat)
    {
        var cached = LinuxFile.CachedPages(fd);
        return cached >= 0 && cached * Environment.SystemPageSize < Math.Min(stat.Size, stat.Blocks * 512) / 2;
    }

    private async Task<bool> ReadAsync(FileDescriptor fd, bool direct, IReadOnlyList<(long Offset, long Length)> extents, ChannelWriter<Segment> segments, CancellationToken cancellationToken)
    {
        var mode = new ReadMode(direct);
        var reads = new Queue<(Task<int> Read, Segment Segment)>();
        var complete = true;
        try
        {
            foreach (var (offset, length) in extents)
            {
                var end = offset + length;
                for (var position = offset; position < end && complete;)
                {
                    if (reads.Count == ReadsInFlight)
                    {
                        complete = await DeliverOldestAsync(reads, segments, cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    var buffer = await _free.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                    var want = (int)Math.Min(SegmentSize, end - position);
                    var segment = new Segment(buffer, position, want, position + want == end);
                    reads.Enqueue((_io.Run(() => ReadSegment(fd, mode, buffer.Memory[Headroom..], segment.FileOffset, segment.Length), cancellationToken), segment));
                    position += segment.Length;
                }
            }

            while (complete && reads.Count > 0)
            {
                complete = await DeliverOldestAsync(reads, segments, cancellationToken).ConfigureAwait(false);
            }

            return complete;
        }
        finally
        {
            // On a short read, a failure or cancellation: let the other reads end before their buffers are reused.
            while (reads.TryDequeue(out var pending))
            {
                try
                {
                    await pending.Read.ConfigureAwait(false);
                }
                catch (Exception e) when (e is LinuxIOException or OperationCanceledException)
                {
                    // The failure that matters is the one already on its way to the caller.
                }

                Return(pending.Segment.Buffer);
            }

            segments.TryComplete();
        }
    }

    /// <summary>Waits for the oldest read and hands its segment to the packer; false if the file ended early.</summary>
    private async Task<bool> DeliverOldestAsync(Queue<(Task<int> Read, Segment Segment)> reads, ChannelWriter<Segment> segments, CancellationToken cancellationToken)
    {
        var (read, segment) = reads.Peek();
        var got = await read.ConfigureAwait(false);
        reads.Dequeue();
        if (got < segment.Length)
        {
            Return(segment.Buffer);
            return false;
        }

        await segments.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Whether reads of the file bypass the page cache; shared by the reads in flight (one file descriptor).</summary>
    private sealed class ReadMode(bool direct)
    {
        public volatile bool Direct = direct;
    }

    /// <summary>Reads <paramref name="want"/> bytes, or fewer at the end of the file; direct reads ask for whole pages.</summary>
    private static int ReadSegment(FileDescriptor fd, ReadMode mode, Memory<byte> memory, long position, int want)
    {
        var buffer = memory.Span;
        var total = 0;
        while (total < want)
        {
            int n;
            var direct = mode.Direct;
            try
            {
                var request = direct ? (want - total + PageAlignedBuffer.PageSize - 1) / PageAlignedBuffer.PageSize * PageAlignedBuffer.PageSize : want - total;
                n = LinuxFile.Read(fd, buffer.Slice(total, request), position + total);
            }
            catch (LinuxIOException e) when (direct && e.Errno == Errno.EINVAL)
            {
                // An extent that does not start on a block boundary: go on through the page cache (for every read of
                // the file: the flag belongs to the descriptor).
                _ = LinuxFile.TrySetDirect(fd, false);
                mode.Direct = false;
                continue;
            }

            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return Math.Min(total, want);
    }
}
