using System.Buffers;

namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    private const int XattrStackSize = 1024;

    /// <summary>
    /// All extended attributes of <paramref name="name"/> itself (a symlink is not followed, a device or FIFO is not
    /// opened), as (name, value) pairs in the kernel's order. Empty if the file system has no xattrs (ENOTSUP).
    /// </summary>
    public static unsafe List<KeyValuePair<byte[], byte[]>> ReadXattrs(FileDescriptor directory, ReadOnlySpan<byte> name)
    {
        ArgumentNullException.ThrowIfNull(directory);
        CheckName(name);
        var addedRef = false;
        byte[]? rentedPath = null;
        try
        {
            directory.DangerousAddRef(ref addedRef);
            var maxLength = ProcFdPath.MaxLength(name.Length);
            Span<byte> path = maxLength <= 512 ? stackalloc byte[512] : (rentedPath = ArrayPool<byte>.Shared.Rent(maxLength));
            ProcFdPath.Write(path, directory.Value, name);
            fixed (byte* p = path)
            {
                return ReadXattrsCore(p, fd: null, name);
            }
        }
        finally
        {
            if (addedRef)
            {
                directory.DangerousRelease();
            }

            if (rentedPath is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedPath);
            }
        }
    }

    /// <summary>All extended attributes of an open file (not an O_PATH descriptor); empty if the file system has none (ENOTSUP).</summary>
    public static unsafe List<KeyValuePair<byte[], byte[]>> ReadXattrs(FileDescriptor fd)
    {
        ArgumentNullException.ThrowIfNull(fd);
        return ReadXattrsCore(path: null, fd, ReadOnlySpan<byte>.Empty);
    }

    /// <summary>Sets (creates or replaces) an extended attribute of <paramref name="name"/> itself, not following a symlink.</summary>
    public static unsafe void SetXattrAt(FileDescriptor directory, ReadOnlySpan<byte> name, ReadOnlySpan<byte> xattrName, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(directory);
        CheckName(name);
        CheckName(xattrName);
        Span<byte> attributeBuffer = stackalloc byte[NulTerminated.StackSize];
        using var attributeZ = new NulTerminated(xattrName, attributeBuffer);
        var addedRef = false;
        byte[]? rentedPath = null;
        try
        {
            directory.DangerousAddRef(ref addedRef);
            var maxLength = ProcFdPath.MaxLength(name.Length);
            Span<byte> path = maxLength <= 512 ? stackalloc byte[512] : (rentedPath = ArrayPool<byte>.Shared.Rent(maxLength));
            ProcFdPath.Write(path, directory.Value, name);
            int result;
            fixed (byte* p = path)
            fixed (byte* a = attributeZ)
            fixed (byte* v = value)
            {
                do
                {
                    result = Libc.LSetXattr(p, a, v, (nuint)value.Length, 0);
                }
                while (Interrupted(result));
            }

            if (result < 0)
            {
                ThrowXattr(LastErrno, "lsetxattr", fd: null, name, xattrName);
            }
        }
        finally
        {
            if (addedRef)
            {
                directory.DangerousRelease();
            }

            if (rentedPath is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedPath);
            }
        }
    }

    /// <summary>Sets (creates or replaces) an extended attribute of an open file.</summary>
    public static unsafe void SetXattr(FileDescriptor fd, ReadOnlySpan<byte> xattrName, ReadOnlySpan<byte> value)
    {
        CheckName(xattrName);
        Span<byte> attributeBuffer = stackalloc byte[NulTerminated.StackSize];
        using var attributeZ = new NulTerminated(xattrName, attributeBuffer);
        int result;
        fixed (byte* a = attributeZ)
        fixed (byte* v = value)
        {
            do
            {
                result = Libc.FSetXattr(fd, a, v, (nuint)value.Length, 0);
            }
            while (Interrupted(result));
        }

        if (result < 0)
        {
            ThrowXattr(LastErrno, "fsetxattr", fd, ReadOnlySpan<byte>.Empty, xattrName);
        }
    }

    /// <summary>Reads all attributes through <paramref name="path"/> (l*xattr) if it is not null, else through <paramref name="fd"/> (f*xattr).</summary>
    private static unsafe List<KeyValuePair<byte[], byte[]>> ReadXattrsCore(byte* path, FileDescriptor? fd, ReadOnlySpan<byte> name)
    {
        var attributes = new List<KeyValuePair<byte[], byte[]>>();
        Span<byte> list = stackalloc byte[XattrStackSize];
        Span<byte> value = stackalloc byte[XattrStackSize];
        Span<byte> attributeBuffer = stackalloc byte[NulTerminated.StackSize];
        byte[]? rentedList = null;
        byte[]? rentedValue = null;
        try
        {
            // The list of names. Most files have none, which costs this one call.
            nint listLength;
            while (true)
            {
                fixed (byte* l = list)
                {
                    listLength = ListXattrs(path, fd, l, list.Length);
                }

                if (listLength >= 0)
                {
                    break;
                }

                var errno = LastErrno;
                if (errno == Errno.ENOTSUP)
                {
                    return attributes;
                }

                if (errno != Errno.ERANGE)
                {
                    ThrowXattr(errno, path is not null ? "llistxattr" : "flistxattr", fd, name, ReadOnlySpan<byte>.Empty);
                }

                // Longer than the buffer: ask for the length, then try again (the list may still grow meanwhile).
                var needed = ListXattrs(path, fd, null, 0);
                if (needed < 0)
                {
                    ThrowXattr(LastErrno, path is not null ? "llistxattr" : "flistxattr", fd, name, ReadOnlySpan<byte>.Empty);
                }

                list = Grow(ref rentedList, Math.Max((int)needed, list.Length * 2));
            }

            var names = list[..(int)listLength];
            while (!names.IsEmpty)
            {
                var end = names.IndexOf((byte)0);
                if (end < 0)
                {
                    end = names.Length; // the kernel always terminates each name; be safe if not
                }

                var attribute = names[..end];
                names = names[Math.Min(end + 1, names.Length)..];
                if (attribute.IsEmpty)
                {
                    continue;
                }

                // Copied rather than pointed into the list, which would need the NUL the check above does not trust.
                using var attributeZ = new NulTerminated(attribute, attributeBuffer);
                nint valueLength;
                while (true)
                {
                    fixed (byte* a = attributeZ)
                    fixed (byte* v = value)
                    {
                        valueLength = GetXattr(path, fd, a, v, value.Length);
                    }

                    if (valueLength >= 0)
                    {
                        break;
                    }

                    var errno = LastErrno;
                    if (errno == Errno.ENODATA)
                    {
                        break; // removed since it was listed
                    }

                    if (errno != Errno.ERANGE)
                    {
                        ThrowXattr(errno, path is not null ? "lgetxattr" : "fgetxattr", fd, name, attribute);
                    }

                    nint needed;
                    fixed (byte* a = attributeZ)
                    {
                        needed = GetXattr(path, fd, a, null, 0);
                    }

                    if (needed < 0 && LastErrno != Errno.ENODATA)
                    {
                        ThrowXattr(LastErrno, path is not null ? "lgetxattr" : "fgetxattr", fd, name, attribute);
                    }

                    value = Grow(ref rentedValue, Math.Max((int)needed, value.Length * 2));
                }

                if (valueLength >= 0)
                {
                    attributes.Add(new KeyValuePair<byte[], byte[]>(attribute.ToArray(), value[..(int)valueLength].ToArray()));
                }
            }

            return attributes;
        }
        finally
        {
            if (rentedList is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedList);
            }

            if (rentedValue is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedValue);
            }
        }
    }

    private static unsafe nint ListXattrs(byte* path, FileDescriptor? fd, byte* list, int size)
    {
        nint result;
        do
        {
            result = path is not null ? Libc.LListXattr(path, list, (nuint)size) : Libc.FListXattr(fd!, list, (nuint)size);
        }
        while (Interrupted(result));

        return result;
    }

    private static unsafe nint GetXattr(byte* path, FileDescriptor? fd, byte* name, byte* value, int size)
    {
        nint result;
        do
        {
            result = path is not null ? Libc.LGetXattr(path, name, value, (nuint)size) : Libc.FGetXattr(fd!, name, value, (nuint)size);
        }
        while (Interrupted(result));

        return result;
    }

    /// <summary>Replaces the pooled buffer with a larger one (the contents are not kept).</summary>
    private static byte[] Grow(ref byte[]? rented, int length)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
            rented = null;
        }

        rented = ArrayPool<byte>.Shared.Rent(length);
        return rented;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [System.Diagnostics.StackTraceHidden]
    private static void ThrowXattr(int errno, string operation, FileDescriptor? fd, ReadOnlySpan<byte> name, ReadOnlySpan<byte> attribute) =>
        throw new LinuxIOException(
            errno,
            operation,
            fd is not null ? PathOf(fd) : name.ToArray(),
            otherName: null,
            detail: attribute.IsEmpty ? null : PathBytes.Display(attribute));
}
