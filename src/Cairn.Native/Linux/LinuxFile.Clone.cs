namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    /// <summary>
    /// Makes <paramref name="length"/> bytes of <paramref name="destination"/> at <paramref name="destinationOffset"/>
    /// share storage with <paramref name="source"/> (reflink, ioctl FICLONERANGE; 0 = to the end of the source).
    /// Returns false if the file systems cannot do it here (no reflink support, different file systems, unaligned
    /// range), so the caller copies instead; throws for other failures.
    /// </summary>
    public static unsafe bool TryCloneRange(FileDescriptor source, long sourceOffset, FileDescriptor destination, long destinationOffset, long length)
    {
        ArgumentNullException.ThrowIfNull(source);
        var addedRef = false;
        int result;
        int errno;
        try
        {
            // The source travels as a number inside the struct, so hold it open for the call by hand.
            source.DangerousAddRef(ref addedRef);
            var range = new Libc.FileCloneRange
            {
                SourceFd = source.Value,
                SourceOffset = (ulong)sourceOffset,
                SourceLength = (ulong)length,
                DestinationOffset = (ulong)destinationOffset,
            };
            do
            {
                result = Libc.IoctlCloneRange(destination, Libc.FICloneRange, &range);
            }
            while (Interrupted(result));

            // Read before the release below, which could close the source (if disposed meanwhile) and clobber errno.
            errno = result < 0 ? LastErrno : 0;
        }
        finally
        {
            if (addedRef)
            {
                source.DangerousRelease();
            }
        }

        return errno == 0 || IsCloneUnsupported(errno, "ioctl FICLONERANGE", source, destination);
    }

    /// <summary>Makes <paramref name="destination"/> a reflink copy of all of <paramref name="source"/> (ioctl FICLONE); false/throws as <see cref="TryCloneRange"/>.</summary>
    public static bool TryClone(FileDescriptor source, FileDescriptor destination)
    {
        int result;
        do
        {
            result = Libc.IoctlClone(destination, Libc.FIClone, source);
        }
        while (Interrupted(result));

        return result == 0 || IsCloneUnsupported(LastErrno, "ioctl FICLONE", source, destination);
    }

    /// <summary>Returns false if <paramref name="errno"/> means "cannot reflink here"; throws otherwise.</summary>
    private static bool IsCloneUnsupported(int errno, string operation, FileDescriptor source, FileDescriptor destination)
    {
        switch (errno)
        {
            case Errno.EOPNOTSUPP or Errno.EXDEV or Errno.EINVAL or Errno.ENOTTY:
                return false;

            // EBADF means either a misuse (source not readable, destination not writable or append-only) or, per the
            // man page, a file system without reflink. Only the descriptors' modes tell which.
            case Errno.EBADF when IsReadable(source) && IsWritableNotAppend(destination):
                return false;

            default:
                throw new LinuxIOException(errno, operation, PathOf(destination));
        }
    }

    private static bool IsReadable(FileDescriptor fd)
    {
        var flags = GetStatusFlags(fd);
        return flags >= 0 && (flags & Libc.OPath) == 0 && (flags & Libc.OAccessMode) != (int)OpenFlags.WriteOnly;
    }

    private static bool IsWritableNotAppend(FileDescriptor fd)
    {
        var flags = GetStatusFlags(fd);
        return flags >= 0 && (flags & (Libc.OPath | Libc.OAppend)) == 0 && (flags & Libc.OAccessMode) != (int)OpenFlags.ReadOnly;
    }

    private static int GetStatusFlags(FileDescriptor fd)
    {
        int flags;
        do
        {
            flags = Libc.FCntl(fd, Libc.FGetFl);
        }
        while (Interrupted(flags));

        return flags;
    }
}
