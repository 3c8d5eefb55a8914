namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    private const int LockExclusive = 2; // LOCK_EX
    private const int LockNonBlocking = 4; // LOCK_NB

    /// <summary>
    /// Takes an exclusive <c>flock(2)</c> on <paramref name="fd"/> (a file or a directory) without waiting: false if
    /// another open file description holds one. The lock lasts until every descriptor of this open file description
    /// is closed, and the kernel drops it when its process dies, however it dies: what makes it a test of whether a
    /// process that left something behind is still at work on it.
    /// </summary>
    public static bool TryLockExclusive(FileDescriptor fd)
    {
        int result;
        do
        {
            result = Libc.Flock(fd, LockExclusive | LockNonBlocking);
        }
        while (Interrupted(result));

        if (result == 0)
        {
            return true;
        }

        var errno = LastErrno;
        return errno == Errno.EAGAIN ? false : throw new LinuxIOException(errno, "flock");
    }
}
