namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    /// <summary>Changes owner and group of <paramref name="name"/> itself (a symlink is not followed).</summary>
    public static unsafe void ChangeOwnerAt(FileDescriptor directory, ReadOnlySpan<byte> name, uint uid, uint gid)
    {
        CheckName(name);
        Span<byte> buffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, buffer);
        int result;
        fixed (byte* p = nameZ)
        {
            do
            {
                result = Libc.FChownAt(directory, p, uid, gid, Libc.AtSymlinkNoFollow);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowIO(LastErrno, "fchownat", name);
        }
    }

    public static void ChangeOwner(FileDescriptor fd, uint uid, uint gid)
    {
        int result;
        do
        {
            result = Libc.FChown(fd, uid, gid);
        }
        while (Interrupted(result));

        if (result < 0)
        {
            ThrowIO(LastErrno, "fchown", fd);
        }
    }

    /// <summary>Sets the permission bits (07777). Call after <see cref="ChangeOwner"/>: chown clears set-uid and set-gid.</summary>
    public static void ChangeMode(FileDescriptor fd, uint permissions)
    {
        int result;
        do
        {
            result = Libc.FChmod(fd, permissions & 0xFFF);
        }
        while (Interrupted(result));

        if (result < 0)
        {
            ThrowIO(LastErrno, "fchmod", fd);
        }
    }

    /// <summary>
    /// Sets the permission bits (07777) of <paramref name="name"/>, for nodes that cannot be opened to use
    /// <see cref="ChangeMode"/> (FIFOs, devices). Follows a symlink, as chmod does: call it only on a name known not to
    /// be one, such as a node just created in a private directory. Call after <see cref="ChangeOwnerAt"/>.
    /// </summary>
    public static unsafe void ChangeModeAt(FileDescriptor directory, ReadOnlySpan<byte> name, uint permissions)
    {
        CheckName(name);
        Span<byte> buffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, buffer);
        int result;
        fixed (byte* p = nameZ)
        {
            do
            {
                result = Libc.FChmodAt(directory, p, permissions & 0xFFF, 0);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowIO(LastErrno, "fchmodat", name);
        }
    }

    /// <summary>Sets access and modification times (ns since the epoch) of <paramref name="name"/> itself, not following a symlink.</summary>
    public static unsafe void SetTimesAt(FileDescriptor directory, ReadOnlySpan<byte> name, long atimeNs, long mtimeNs)
    {
        CheckName(name);
        Span<byte> buffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, buffer);
        var times = stackalloc Libc.Timespec[2];
        times[0] = TimeConversion.ToTimespec(atimeNs);
        times[1] = TimeConversion.ToTimespec(mtimeNs);
        int result;
        fixed (byte* p = nameZ)
        {
            do
            {
                result = Libc.UTimensAt(directory, p, times, Libc.AtSymlinkNoFollow);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowIO(LastErrno, "utimensat", name);
        }
    }

    /// <summary>Sets access and modification times (ns since the epoch) of an open file.</summary>
    public static unsafe void SetTimes(FileDescriptor fd, long atimeNs, long mtimeNs)
    {
        var times = stackalloc Libc.Timespec[2];
        times[0] = TimeConversion.ToTimespec(atimeNs);
        times[1] = TimeConversion.ToTimespec(mtimeNs);
        int result;
        do
        {
            result = Libc.FUTimens(fd, times);
        }
        while (Interrupted(result));

        if (result < 0)
        {
            ThrowIO(LastErrno, "futimens", fd);
        }
    }
}
