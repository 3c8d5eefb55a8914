using Cairn.Buffers;
using Cairn.Native.Linux;

namespace Cairn.IO;

/// <summary>
/// Writes new files of bulk data past the page cache (O_DIRECT) where the file system allows it: a snapshot's packs
/// in a local repository, a mount's cached frames.
/// </summary>
/// <remarks>
/// A buffered write is a copy into freshly allocated page-cache pages, and on a microVM fresh pages are expensive:
/// writing 760 MB in 2 MiB blocks took 1.3–2.2 s of system time buffered on this kind of machine, 0.1–0.2 s direct
/// (<c>dd bs=2M</c>, with and without <c>oflag=direct</c>, two runs each). In a full read through a mount, copying the
/// frames into the page cache was 27 % of the server's CPU. Nothing is lost by skipping the cache: a pack is
/// written once and read back rarely and in ranges, a cached frame is read back through a mount whose kernel page
/// cache already holds what was read. A direct write waits for the device, where a buffered one returns before the
/// data is on disk; packs are flushed to disk (fsync) before they count, so for them that wait was there anyway.
/// Direct I/O moves whole blocks from page-aligned memory: the largest whole-page prefix is written directly (from
/// the caller's memory if it is page-aligned, else through a bounce buffer), the tail through the page cache.
/// </remarks>
public static class UncachedFile
{
    /// <summary>Smaller files go through the page cache: the copy is cheap, the device round trip would not be.</summary>
    public const int DirectThreshold = 256 << 10;

    private const int Block = 4096;
    private const int BounceSize = 1 << 20;

    // Bounce buffers for unaligned sources, kept for the life of the process: allocating (and faulting in) a fresh
    // mapping per write would cost what the direct write saves. There are as many as writers ever copied at once.
    private static readonly FixedBufferPool s_bounces = new(BounceSize);

    /// <summary>
    /// Creates <paramref name="path"/> (it must not exist; mode 0666 less the umask) holding <paramref name="data"/>;
    /// with <paramref name="durable"/>, flushed to disk (fsync) before this returns.
    /// </summary>
    /// <exception cref="LinuxIOException">The file could not be created or written.</exception>
    public static void Create(string path, ReadOnlySpan<byte> data, bool durable)
    {
        using var fd = LinuxFile.Open(path, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive, 0b110_110_110);
        Write(fd, data);
        if (durable)
        {
            LinuxFile.Sync(fd);
        }
    }

    /// <summary>Writes <paramref name="data"/> at the start of <paramref name="fd"/>, directly where it can.</summary>
    private static void Write(FileDescriptor fd, ReadOnlySpan<byte> data)
    {
        var written = data.Length >= DirectThreshold ? WriteDirect(fd, data) : 0;
        if (written < data.Length)
        {
            LinuxFile.WriteAll(fd, data[written..], written);
        }
    }

    /// <summary>Writes the whole blocks at the start of <paramref name="data"/> with O_DIRECT; returns the bytes written.</summary>
    private static unsafe int WriteDirect(FileDescriptor fd, ReadOnlySpan<byte> data)
    {
        if (!LinuxFile.TrySetDirect(fd, true))
        {
            return 0; // tmpfs before Linux 6.6, some FUSE and network file systems
        }

        var length = data.Length / Block * Block;
        var written = 0;
        try
        {
            bool aligned;
            fixed (byte* start = data)
            {
                aligned = ((nint)start & (Block - 1)) == 0;
            }

            if (aligned)
            {
                LinuxFile.WriteAll(fd, data[..length], 0);
                written = length;
            }
            else
            {
                var bounce = s_bounces.Rent();
                try
                {
                    var buffer = bounce.Span;
                    while (written < length)
                    {
                        var n = Math.Min(BounceSize, length - written);
                        data.Slice(written, n).CopyTo(buffer);
                        LinuxFile.WriteAll(fd, buffer[..n], written);
                        written += n;
                    }
                }
                finally
                {
                    s_bounces.Return(bounce);
                }
            }
        }
        catch (LinuxIOException e) when (e.Errno == Errno.EINVAL)
        {
            // The file system took the flag but not these writes (a logical block larger than a page): the caller
            // writes from `written` on through the page cache, rewriting whatever part of the last block went through.
        }
        finally
        {
            LinuxFile.TrySetDirect(fd, false);
        }

        return written;
    }
}
