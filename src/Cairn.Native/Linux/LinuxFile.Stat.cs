namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    /// <summary>The metadata of <paramref name="name"/>; of a symlink itself unless <paramref name="followSymlinks"/>.</summary>
    public static StatxInfo Stat(FileDescriptor directory, ReadOnlySpan<byte> name, bool followSymlinks = false)
    {
        CheckName(name);
        var errno = StatCore(directory, name, followSymlinks ? 0 : Libc.AtSymlinkNoFollow, Libc.StatxBasicStats, out var result);
        if (errno != 0)
        {
            ThrowIO(errno, "statx", name);
        }

        return new StatxInfo(result);
    }

    /// <summary>The metadata of the file <paramref name="fd"/> refers to (also for O_PATH descriptors).</summary>
    public static StatxInfo Stat(FileDescriptor fd)
    {
        var errno = StatCore(fd, ReadOnlySpan<byte>.Empty, Libc.AtEmptyPath, Libc.StatxBasicStats, out var result);
        if (errno != 0)
        {
            ThrowIO(errno, "statx", fd);
        }

        return new StatxInfo(result);
    }

    /// <summary>Like <see cref="Stat(FileDescriptor, ReadOnlySpan{byte}, bool)"/> without following symlinks, returning the errno (0 on success).</summary>
    public static int TryStat(FileDescriptor directory, ReadOnlySpan<byte> name, out StatxInfo info)
    {
        info = default;
        if (name.Contains((byte)0))
        {
            return Errno.EINVAL;
        }

        if (directory is null || directory.IsClosed)
        {
            return Errno.EBADF;
        }

        var errno = StatCore(directory, name, Libc.AtSymlinkNoFollow, Libc.StatxBasicStats, out var result);
        if (errno == 0)
        {
            info = new StatxInfo(result);
        }

        return errno;
    }

    /// <summary>
    /// An id of the mount <paramref name="fd"/> lives on: the mount id where the kernel reports it (5.8+), which also
    /// tells bind mounts of the same file system apart; else the device number.
    /// </summary>
    private static ulong MountIdOf(FileDescriptor fd)
    {
        var errno = StatCore(fd, ReadOnlySpan<byte>.Empty, Libc.AtEmptyPath, Libc.StatxBasicStats | Libc.StatxMountId, out var result);
        if (errno != 0)
        {
            ThrowIO(errno, "statx", fd);
        }

        return (result.Mask & Libc.StatxMountId) != 0
            ? result.MountId
            : DeviceNumber.Make(result.DeviceMajor, result.DeviceMinor) | (1UL << 63);
    }

    private static unsafe int StatCore(FileDescriptor directory, ReadOnlySpan<byte> name, int flags, uint mask, out Libc.Statx result)
    {
        Span<byte> buffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, buffer);
        Libc.Statx statx;
        int r;
        fixed (byte* p = nameZ)
        {
            do
            {
                r = Libc.GetStatx(directory, p, flags | Libc.AtStatxSyncAsStat, mask, &statx);
            }
            while (Interrupted(r));
        }

        result = statx;
        return r < 0 ? LastErrno : 0;
    }
}
