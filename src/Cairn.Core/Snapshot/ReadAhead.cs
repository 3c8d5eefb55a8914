using System.Threading.Channels;
using Cairn.Buffers;
using Cairn.Native.Linux;

namespace Cairn.Snapshot;

/// <summary>
/// <see cref="Length"/> bytes of a file at <see cref="FileOffset"/>, in <see cref="Buffer"/> after its headroom;
/// <see cref="EndOfExtent"/> marks the last segment of a data extent.
/// </summary>
internal readonly record struct Segment(PageAlignedBuffer Buffer, long FileOffset, int Length, bool EndOfExtent);

/// <summary>
/// Reads large files ahead of the packer, on a thread of its own, in segments of a few MiB: the disk works while the
/// packer cuts and hashes the previous segment. A file mostly absent from the page cache is read with O_DIRECT: on
/// this kind of machine (a microVM) a cold buffered read costs five times the CPU of the copy it is, once the reader
/// does anything between reads (measured: 1.8 s of system time for a 1.4 GB image, 0.15 s direct), and the page
/// cache gains nothing from a file read once. A file mostly in the cache (an image just written by a paused VM)
/// is read through it: direct I/O would first have to write its dirty pages back.
/// Each buffer has headroom before the segment, so the packer can put the uncut tail of one segment in front of the
/// next (content-defined chunks straddle segments) without moving the segment itself.
/// </summary>
internal sealed class ReadAhead
{
    public const int SegmentSize = 4 << 20;

    // One buffer being cut by the packer, one waiting, one being read.
    private const int BufferCount = 3;

    private readonly Channel<PageAlignedBuffer> _free = Channel.CreateUnbounded<PageAlignedBuffer>();

    public ReadAhead(int maxChunk)
    {
        Headroom = (maxChunk + PageAlignedBuffer.PageSize - 1) / PageAlignedBuffer.PageSize * PageAlignedBuffer.PageSize;
        for (var i = 0; i < BufferCount; i++)
        {
            _free.Writer.TryWrite(new PageAlignedBuffer(Headroom + SegmentSize));
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
        try
        {
            foreach (var (offset, length) in extents)
            {
                var end = offset + length;
                for (var position = offset; position < end;)
                {
                    var buffer = await _free.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                    var want = (int)Math.Min(SegmentSize, end - position);
                    if (ReadSegment(fd, ref direct, buffer.Span[Headroom..], position, want) < want)
                    {
                        Return(buffer);
                        return false;
                    }

                    await segments.WriteAsync(new Segment(buffer, position, want, position + want == end), cancellationToken).ConfigureAwait(false);
                    position += want;
                }
            }

            return true;
        }
        finally
        {
            segments.TryComplete();
        }
    }

    /// <summary>Reads <paramref name="want"/> bytes, or fewer at the end of the file; direct reads ask for whole pages.</summary>
    private static int ReadSegment(FileDescriptor fd, ref bool direct, Span<byte> buffer, long position, int want)
    {
        var total = 0;
        while (total < want)
        {
            int n;
            try
            {
                var request = direct ? (want - total + PageAlignedBuffer.PageSize - 1) / PageAlignedBuffer.PageSize * PageAlignedBuffer.PageSize : want - total;
                n = LinuxFile.Read(fd, buffer.Slice(total, request), position + total);
            }
            catch (LinuxIOException e) when (direct && e.Errno == Errno.EINVAL)
            {
                // An extent that does not start on a block boundary: go on through the page cache.
                _ = LinuxFile.TrySetDirect(fd, false);
                direct = false;
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
