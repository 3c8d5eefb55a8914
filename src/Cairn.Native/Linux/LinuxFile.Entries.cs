namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    /// <summary>Creates the directory <paramref name="name"/> (<paramref name="mode"/> is filtered by the umask).</summary>
    public static unsafe void MakeDirectoryAt(FileDescriptor directory, ReadOnlySpan<byte> name, uint mode)
    {
        CheckName(name);
        Span<byte> buffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, buffer);
        int result;
        fixed (byte* p = nameZ)
        {
            do
            {
                result = Libc.MkdirAt(directory, p, mode);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowIO(LastErrno, "mkdirat", name);
        }
    }

    /// <summary>
    /// Creates a FIFO, device or socket node. <paramref name="mode"/> includes the type bits (S_IFIFO 0x1000,
    /// S_IFCHR 0x2000, S_IFBLK 0x6000); <paramref name="device"/> is in <see cref="DeviceNumber.Make"/> encoding.
    /// </summary>
    public static unsafe void MakeNodeAt(FileDescriptor directory, ReadOnlySpan<byte> name, uint mode, ulong device)
    {
        CheckName(name);
        Span<byte> buffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, buffer);
        int result;
        fixed (byte* p = nameZ)
        {
            do
            {
                result = Libc.MknodAt(directory, p, mode, device);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowIO(LastErrno, "mknodat", name);
        }
    }

    /// <summary>Renames (renameat2); with <see cref="RenameFlags.NoReplace"/> an existing target fails with EEXIST.</summary>
    public static unsafe void RenameAt(
        FileDescriptor oldDirectory, ReadOnlySpan<byte> oldName, FileDescriptor newDirectory, ReadOnlySpan<byte> newName, RenameFlags flags = RenameFlags.None)
    {
        CheckName(oldName);
        CheckName(newName);
        Span<byte> oldBuffer = stackalloc byte[NulTerminated.StackSize];
        Span<byte> newBuffer = stackalloc byte[NulTerminated.StackSize];
        using var oldZ = new NulTerminated(oldName, oldBuffer);
        using var newZ = new NulTerminated(newName, newBuffer);
        int result;
        fixed (byte* o = oldZ)
        fixed (byte* n = newZ)
        {
            do
            {
                result = Libc.RenameAt2(oldDirectory, o, newDirectory, n, (uint)flags);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowIO(LastErrno, "renameat2", oldName, newName);
        }
    }

    /// <summary>Removes a non-directory, or with <paramref name="isDirectory"/> an empty directory.</summary>
    public static void UnlinkAt(FileDescriptor directory, ReadOnlySpan<byte> name, bool isDirectory)
    {
        CheckName(name);
        var errno = UnlinkAtCore(directory, name, isDirectory ? Libc.AtRemoveDir : 0);
        if (errno != 0)
        {
            ThrowIO(errno, "unlinkat", name);
        }
    }

    private static unsafe int UnlinkAtCore(FileDescriptor directory, ReadOnlySpan<byte> name, int flags)
    {
        Span<byte> buffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, buffer);
        int result;
        fixed (byte* p = nameZ)
        {
            do
            {
                result = Libc.UnlinkAt(directory, p, flags);
            }
            while (Interrupted(result));
        }

        return result < 0 ? LastErrno : 0;
    }
}
