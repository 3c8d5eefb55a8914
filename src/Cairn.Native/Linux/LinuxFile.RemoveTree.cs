namespace Cairn.Native.Linux;

public static partial class LinuxFile
{
    /// <summary>
    /// Removes <paramref name="name"/> and everything below it, like <c>rm -rf</c>; nothing if it does not exist.
    /// Never follows a symlink: every directory is opened with O_NOFOLLOW relative to its parent's descriptor, so a
    /// symlink (even one swapped in during the walk) is removed, not entered. Does not cross into another mount
    /// (fails with EXDEV instead), so a bind mount inside the tree cannot make it wipe another file system.
    /// Iterative, so depth is bounded by open descriptors (one per level), not by the thread's stack.
    /// A directory of the tree that refuses its owner the unlink, listing or rmdir removal needs (a read-only one, as
    /// Go's module cache makes them) is given u+rwx and the call tried again: the tree is the caller's to delete, and
    /// without it a user could not remove what they own. Only below <paramref name="directory"/>, never that one.
    /// </summary>
    public static void RemoveTree(FileDescriptor directory, ReadOnlySpan<byte> name)
    {
        CheckName(name);

        // Most things are not directories: one unlink removes them. Linux reports a directory as EISDIR; POSIX allows EPERM.
        var errno = UnlinkAtCore(directory, name, 0);
        if (errno is 0 or Errno.ENOENT)
        {
            return;
        }

        if (errno is not (Errno.EISDIR or Errno.EPERM))
        {
            ThrowIO(errno, "unlinkat", name);
        }

        var mountId = MountIdOf(directory);
        var stack = new Stack<TreeFrame>();
        try
        {
            var path = name.ToArray();
            Descend(directory, path, path, errno, mountId, stack);
            while (stack.TryPeek(out var top))
            {
                if (top.Next < top.Entries.Count)
                {
                    var entry = top.Entries[top.Next++];
                    errno = 0;
                    if (entry.Kind != FileKind.Directory)
                    {
                        errno = UnlinkAtCore(top.Fd, entry.Name, 0);
                        if (errno == Errno.EACCES && GrantOwnerAccess(top.Fd))
                        {
                            errno = UnlinkAtCore(top.Fd, entry.Name, 0);
                        }

                        if (errno is 0 or Errno.ENOENT)
                        {
                            continue;
                        }

                        if (errno is not (Errno.EISDIR or Errno.EPERM))
                        {
                            throw new LinuxIOException(errno, "unlinkat", Join(top.Path, entry.Name));
                        }
                    }

                    Descend(top.Fd, entry.Name, Join(top.Path, entry.Name), errno, mountId, stack);
                }
                else
                {
                    stack.Pop();
                    top.Fd.Dispose();
                    var parent = stack.TryPeek(out var above) ? above.Fd : directory;
                    errno = UnlinkAtCore(parent, top.Name, Libc.AtRemoveDir);
                    if (errno == Errno.EACCES && above is not null && GrantOwnerAccess(above.Fd))
                    {
                        errno = UnlinkAtCore(parent, top.Name, Libc.AtRemoveDir);
                    }

                    if (errno is not (0 or Errno.ENOENT))
                    {
                        throw new LinuxIOException(errno, "unlinkat", top.Path);
                    }
                }
            }
        }
        finally
        {
            while (stack.TryPop(out var frame))
            {
                frame.Fd.Dispose();
            }
        }
    }

    /// <summary>
    /// Opens the directory <paramref name="name"/> and pushes it with its entries. If it is not a directory (any more),
    /// removes it as a file instead, or, if <paramref name="unlinkErrno"/> says unlinking it already failed, throws that.
    /// </summary>
    private static void Descend(FileDescriptor parent, byte[] name, byte[] path, int unlinkErrno, ulong mountId, Stack<TreeFrame> stack)
    {
        var errno = TryOpenAt(parent, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow, 0, out var fd);
        if (errno == Errno.EACCES && GrantOwnerAccess(parent, name))
        {
            errno = TryOpenAt(parent, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow, 0, out fd);
        }

        if (errno == Errno.ENOENT)
        {
            return;
        }

        if (errno is Errno.ENOTDIR or Errno.ELOOP)
        {
            if (unlinkErrno != 0)
            {
                throw new LinuxIOException(unlinkErrno, "unlinkat", path);
            }

            errno = UnlinkAtCore(parent, name, 0);
            if (errno is 0 or Errno.ENOENT)
            {
                return;
            }

            throw new LinuxIOException(errno, "unlinkat", path);
        }

        if (errno != 0)
        {
            throw new LinuxIOException(errno, "openat", path);
        }

        var frame = new TreeFrame(fd!, name, path);
        stack.Push(frame); // from here on, the caller's finally closes it
        if (MountIdOf(fd!) != mountId)
        {
            throw new LinuxIOException(Errno.EXDEV, "RemoveTree", path, otherName: null, detail: "a mount point; not crossing into it");
        }

        frame.Entries = ReadDirectory(fd!);
    }

    /// <summary>Adds u+rwx to the open directory <paramref name="fd"/>; false if it had them, or is not the caller's to change.</summary>
    private static bool GrantOwnerAccess(FileDescriptor fd)
    {
        var permissions = Stat(fd).Permissions;
        return (permissions & 0b111_000_000) != 0b111_000_000 && Libc.FChmod(fd, permissions | 0b111_000_000) == 0;
    }

    /// <summary>
    /// Adds u+rwx to the directory <paramref name="name"/>, which cannot be opened to list it: through an O_PATH
    /// descriptor (fchmod refuses those, its /proc/self/fd link does not), which O_NOFOLLOW and O_DIRECTORY make sure
    /// is this directory and not where a symlink swapped in would lead.
    /// </summary>
    private static unsafe bool GrantOwnerAccess(FileDescriptor parent, byte[] name)
    {
        if (TryOpenAt(parent, name, OpenFlags.Path | OpenFlags.Directory | OpenFlags.NoFollow, 0, out var fd) != 0)
        {
            return false;
        }

        using (fd!)
        {
            var permissions = Stat(fd!).Permissions;
            if ((permissions & 0b111_000_000) == 0b111_000_000)
            {
                return false;
            }

            Span<byte> path = stackalloc byte[ProcFdPath.MaxLength(0)];
            ProcFdPath.Write(path, fd!.Value, ReadOnlySpan<byte>.Empty);
            fixed (byte* p = path)
            {
                return Libc.FChmodAt(fd, p, permissions | 0b111_000_000, 0) == 0;
            }
        }
    }

    private static byte[] Join(byte[] directory, byte[] name)
    {
        var path = new byte[directory.Length + 1 + name.Length];
        directory.CopyTo(path, 0);
        path[directory.Length] = (byte)'/';
        name.CopyTo(path, directory.Length + 1);
        return path;
    }

    /// <summary>One open directory of the walk: its descriptor, its entries and how far they have been handled.</summary>
    private sealed class TreeFrame(FileDescriptor fd, byte[] name, byte[] path)
    {
        public FileDescriptor Fd { get; } = fd;

        /// <summary>The name in the parent directory, for the final rmdir.</summary>
        public byte[] Name { get; } = name;

        /// <summary>The path relative to the directory RemoveTree was given, for messages.</summary>
        public byte[] Path { get; } = path;

        public List<DirectoryEntry> Entries { get; set; } = [];

        public int Next { get; set; }
    }
}
