using System.Buffers;

namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    /// <summary>The target of the symlink <paramref name="name"/>, as raw bytes.</summary>
    public static unsafe byte[] ReadLinkAt(FileDescriptor directory, ReadOnlySpan<byte> name)
    {
        CheckName(name);
        Span<byte> nameBuffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, nameBuffer);

        // Most targets are short. readlinkat does not say how long the target is, only whether it filled the buffer,
        // so a full buffer means "maybe truncated": retry with a bigger one.
        Span<byte> target = stackalloc byte[256];
        byte[]? rented = null;
        try
        {
            while (true)
            {
                nint length;
                fixed (byte* p = nameZ)
                fixed (byte* t = target)
                {
                    do
                    {
                        length = Libc.ReadLinkAt(directory, p, t, (nuint)target.Length);
                    }
                    while (Interrupted(length));
                }

                if (length < 0)
                {
                    ThrowIO(LastErrno, "readlinkat", name);
                }

                if (length < target.Length)
                {
                    return target[..(int)length].ToArray();
                }

                var larger = ArrayPool<byte>.Shared.Rent(target.Length * 2);
                if (rented is not null)
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }

                rented = larger;
                target = larger;
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Creates the symlink <paramref name="name"/> pointing to <paramref name="target"/> (stored as is, not resolved).</summary>
    public static unsafe void SymlinkAt(ReadOnlySpan<byte> target, FileDescriptor directory, ReadOnlySpan<byte> name)
    {
        CheckName(target);
        CheckName(name);
        Span<byte> targetBuffer = stackalloc byte[NulTerminated.StackSize];
        Span<byte> nameBuffer = stackalloc byte[NulTerminated.StackSize];
        using var targetZ = new NulTerminated(target, targetBuffer);
        using var nameZ = new NulTerminated(name, nameBuffer);
        int result;
        fixed (byte* t = targetZ)
        fixed (byte* p = nameZ)
        {
            do
            {
                result = Libc.SymlinkAt(t, directory, p);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowIO(LastErrno, "symlinkat", name, target);
        }
    }

    /// <summary>Creates the hard link <paramref name="newName"/> to <paramref name="oldName"/>; a symlink is linked itself, never followed.</summary>
    public static unsafe void LinkAt(FileDescriptor oldDirectory, ReadOnlySpan<byte> oldName, FileDescriptor newDirectory, ReadOnlySpan<byte> newName)
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
                result = Libc.LinkAt(oldDirectory, o, newDirectory, n, 0);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowIO(LastErrno, "linkat", oldName, newName);
        }
    }
}
