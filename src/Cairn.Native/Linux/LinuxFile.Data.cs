namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    /// <summary>Reads at <paramref name="offset"/> without moving the file position; returns the bytes read, 0 at end of file.</summary>
    public static unsafe int Read(FileDescriptor fd, Span<byte> buffer, long offset)
    {
        nint length;
        fixed (byte* b = buffer)
        {
            do
            {
                length = Libc.PRead(fd, b, (nuint)buffer.Length, offset);
            }
            while (Interrupted(length));
        }

        if (length < 0)
        {
            ThrowIO(LastErrno, "pread64", fd);
        }

        return (int)length;
    }

    /// <summary>Writes all of <paramref name="data"/> at <paramref name="offset"/>, however many calls that takes.</summary>
    public static unsafe void WriteAll(FileDescriptor fd, ReadOnlySpan<byte> data, long offset)
    {
        fixed (byte* start = data)
        {
            var written = 0;
            while (written < data.Length)
            {
                var length = Libc.PWrite(fd, start + written, (nuint)(data.Length - written), offset + written);
                if (length < 0)
                {
                    var errno = LastErrno;
                    if (errno != Errno.EINTR)
                    {
                        ThrowIO(errno, "pwrite64", fd);
                    }
                }
                else if (length == 0)
                {
                    // pwrite should never write nothing for a non-empty buffer; do not loop forever if it does.
                    // (System.IO's RandomAccess reports the same case as ENOSPC.)
                    ThrowIO(Errno.ENOSPC, "pwrite64", fd);
                }
                else
                {
                    written += (int)length;
                }
            }
        }
    }

    /// <summary>The first offset at or after <paramref name="offset"/> that holds data, or -1 if there is none (ENXIO).</summary>
    public static long SeekData(FileDescriptor fd, long offset)
    {
        var result = SeekCore(fd, offset, Libc.SeekData, out var errno);
        if (errno == Errno.ENXIO)
        {
            return -1;
        }

        if (errno != 0)
        {
            ThrowIO(errno, "lseek", fd);
        }

        return result;
    }

    /// <summary>
    /// The first offset at or after <paramref name="offset"/> in a hole; the end of file counts as a hole, so this is
    /// the file size for a file without holes. Throws ENXIO for an offset at or past the end.
    /// </summary>
    public static long SeekHole(FileDescriptor fd, long offset)
    {
        var result = SeekCore(fd, offset, Libc.SeekHole, out var errno);
        if (errno != 0)
        {
            ThrowIO(errno, "lseek", fd);
        }

        return result;
    }

    private static long SeekCore(FileDescriptor fd, long offset, int whence, out int errno)
    {
        long result;
        do
        {
            result = Libc.LSeek(fd, offset, whence);
        }
        while (Interrupted(result));

        errno = result < 0 ? LastErrno : 0;
        return result;
    }

    /// <summary>Sets the file size; extending it leaves a hole.</summary>
    public static void Truncate(FileDescriptor fd, long length)
    {
        int result;
        do
        {
            result = Libc.FTruncate(fd, length);
        }
        while (Interrupted(result));

        if (result < 0)
        {
            ThrowIO(LastErrno, "ftruncate", fd);
        }
    }

    /// <summary>
    /// Reserves disk space for the range (and extends the file if the range ends past it). A no-op on file systems
    /// that cannot (EOPNOTSUPP): reserving is an optimization, and writes will still work or fail on their own.
    /// </summary>
    public static void Allocate(FileDescriptor fd, long offset, long length)
    {
        int result;
        do
        {
            result = Libc.FAllocate(fd, 0, offset, length);
        }
        while (Interrupted(result));

        if (result < 0)
        {
            var errno = LastErrno;
            if (errno != Errno.EOPNOTSUPP)
            {
                ThrowIO(errno, "fallocate", fd);
            }
        }
    }

    /// <summary>
    /// How many pages of the file are in the page cache (cachestat(2)), or -1 where the kernel cannot tell (before
    /// Linux 6.5, or a file system without a page cache).
    /// </summary>
    public static unsafe long CachedPages(FileDescriptor fd)
    {
        var range = new Libc.CacheStatRange();
        var result = new Libc.CacheStatResult();
        long status;
        do
        {
            status = Libc.CacheStat(Libc.SysCacheStat, fd, &range, &result, 0);
        }
        while (Interrupted(status));

        return status < 0 ? -1 : (long)result.Cached;
    }

    /// <summary>
    /// Switches O_DIRECT on or off for an open file (fcntl F_SETFL): reads then go from the device straight into the
    /// caller's buffer, which, like the offset and length, must be aligned to the logical block size (4096 always is).
    /// Returns false if the file system cannot do direct I/O (EINVAL).
    /// </summary>
    public static bool TrySetDirect(FileDescriptor fd, bool direct)
    {
        var flags = GetStatusFlags(fd);
        if (flags < 0)
        {
            ThrowIO(LastErrno, "fcntl", fd);
        }

        flags = direct ? flags | OpenFlagsConversion.NativeDirect : flags & ~OpenFlagsConversion.NativeDirect;
        int result;
        do
        {
            result = Libc.FCntl(fd, Libc.FSetFl, flags);
        }
        while (Interrupted(result));

        if (result < 0 && LastErrno != Errno.EINVAL)
        {
            ThrowIO(LastErrno, "fcntl", fd);
        }

        return result == 0;
    }

    /// <summary>Flushes the file's data and metadata to disk (fsync).</summary>
    public static void Sync(FileDescriptor fd)
    {
        int result;
        do
        {
            result = Libc.FSync(fd);
        }
        while (Interrupted(result));

        if (result < 0)
        {
            ThrowIO(LastErrno, "fsync", fd);
        }
    }
}
