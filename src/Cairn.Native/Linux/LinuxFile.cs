using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Cairn.Native.Linux;

/// <summary>
/// Linux file-system calls on raw byte names, relative to directory descriptors. Names are
/// <see cref="ReadOnlySpan{T}"/> of bytes without the NUL terminator; they may be relative paths with '/', but
/// never contain NUL (that throws <see cref="ArgumentException"/>, as System.IO does). Failures throw
/// <see cref="LinuxIOException"/>; the Try methods return the errno instead. Interrupted calls (EINTR) are retried.
/// </summary>
public static partial class LinuxFile
{
    private static readonly bool s_isRoot = Libc.GetEUid() == 0;

    /// <summary>True if the process runs with effective user id 0 (read once).</summary>
    public static bool IsRoot => s_isRoot;

    /// <summary>The effective user id (new files are owned by it).</summary>
    public static uint EffectiveUserId { get; } = Libc.GetEUid();

    /// <summary>The effective group id (new files get it, unless the directory is set-group-id).</summary>
    public static uint EffectiveGroupId { get; } = Libc.GetEGid();

    /// <summary>
    /// The process umask, read from /proc/self/status once (umask(2) can only be read by changing it, which would race
    /// with other threads creating files).
    /// </summary>
    public static uint Umask => s_umask.Value;

    private static readonly Lazy<uint> s_umask = new(() =>
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("Umask:", StringComparison.Ordinal))
            {
                return Convert.ToUInt32(line[6..].Trim(), 8);
            }
        }

        return 0b000_010_010;
    });

    /// <summary>Opens a directory by path (relative to the current directory), for the *At calls.</summary>
    public static FileDescriptor OpenDirectory(string path) => Open(path, OpenFlags.Directory);

    /// <summary>
    /// Opens a file by path (relative to the current directory); <paramref name="mode"/> is for
    /// <see cref="OpenFlags.Create"/> (the umask applies). O_CLOEXEC is always added.
    /// </summary>
    public static unsafe FileDescriptor Open(string path, OpenFlags flags, uint mode = 0)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("The path contains a NUL character.", nameof(path));
        }

        var nativeFlags = OpenFlagsConversion.ToNative(flags);
        if (nativeFlags < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(flags), flags, "Unknown open flags.");
        }

        var maxLength = Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        byte[]? rented = null;
        Span<byte> buffer = maxLength <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(maxLength));
        try
        {
            var length = Encoding.UTF8.GetBytes(path, buffer);
            buffer[length] = 0;
            int fd;
            fixed (byte* p = buffer)
            {
                do
                {
                    fd = Libc.OpenAt(Libc.AtFdCwd, p, nativeFlags, mode);
                }
                while (Interrupted(fd));
            }

            if (fd < 0)
            {
                throw new LinuxIOException(Marshal.GetLastPInvokeError(), "openat", buffer[..length].ToArray());
            }

            return FileDescriptor.FromRaw(fd);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Opens <paramref name="name"/> relative to <paramref name="directory"/>. O_CLOEXEC is always added.</summary>
    public static FileDescriptor OpenAt(FileDescriptor directory, ReadOnlySpan<byte> name, OpenFlags flags, uint mode = 0)
    {
        CheckName(name);
        var nativeFlags = OpenFlagsConversion.ToNative(flags);
        if (nativeFlags < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(flags), flags, "Unknown open flags.");
        }

        var errno = OpenAtCore(directory, name, nativeFlags, mode, out var fd);
        if (errno != 0)
        {
            ThrowIO(errno, "openat", name);
        }

        return FileDescriptor.FromRaw(fd);
    }

    /// <summary>
    /// Like <see cref="OpenAt"/>, but returns the errno (0 on success) instead of throwing: EINVAL for unknown flags
    /// or a NUL in the name, EBADF for a closed directory.
    /// </summary>
    public static int TryOpenAt(FileDescriptor directory, ReadOnlySpan<byte> name, OpenFlags flags, uint mode, out FileDescriptor? fd)
    {
        fd = null;
        var nativeFlags = OpenFlagsConversion.ToNative(flags);
        if (nativeFlags < 0 || name.Contains((byte)0))
        {
            return Errno.EINVAL;
        }

        if (directory is null || directory.IsClosed)
        {
            return Errno.EBADF;
        }

        var errno = OpenAtCore(directory, name, nativeFlags, mode, out var raw);
        if (errno == 0)
        {
            fd = FileDescriptor.FromRaw(raw);
        }

        return errno;
    }

    private static unsafe int OpenAtCore(FileDescriptor directory, ReadOnlySpan<byte> name, int nativeFlags, uint mode, out int fd)
    {
        Span<byte> buffer = stackalloc byte[NulTerminated.StackSize];
        using var nameZ = new NulTerminated(name, buffer);
        fixed (byte* p = nameZ)
        {
            do
            {
                fd = Libc.OpenAt(directory, p, nativeFlags, mode);
            }
            while (Interrupted(fd));
        }

        return fd < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>True if a call failed with EINTR and should simply be made again.</summary>
    private static bool Interrupted(long result) => result < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR;

    /// <summary>The errno of the call that just failed.</summary>
    private static int LastErrno => Marshal.GetLastPInvokeError();

    private static void CheckName(ReadOnlySpan<byte> name, [CallerArgumentExpression(nameof(name))] string? parameterName = null)
    {
        // A NUL would silently cut the name short, so a different entry than the caller meant would be used.
        if (name.Contains((byte)0))
        {
            ThrowNulInName(parameterName);
        }
    }

    [DoesNotReturn]
    private static void ThrowNulInName(string? parameterName) =>
        throw new ArgumentException("A file name cannot contain a NUL byte.", parameterName);

    [DoesNotReturn]
    [StackTraceHidden]
    private static void ThrowIO(int errno, string operation, ReadOnlySpan<byte> name) =>
        throw new LinuxIOException(errno, operation, name.ToArray());

    [DoesNotReturn]
    [StackTraceHidden]
    private static void ThrowIO(int errno, string operation, ReadOnlySpan<byte> name, ReadOnlySpan<byte> otherName) =>
        throw new LinuxIOException(errno, operation, name.ToArray(), otherName.ToArray());

    /// <summary>Throws for a call on a descriptor, naming the file the descriptor refers to if the kernel still knows it.</summary>
    [DoesNotReturn]
    [StackTraceHidden]
    private static void ThrowIO(int errno, string operation, FileDescriptor fd) =>
        throw new LinuxIOException(errno, operation, PathOf(fd));

    /// <summary>The path of an open descriptor, from /proc/self/fd, for messages; null if unknown.</summary>
    private static unsafe byte[]? PathOf(FileDescriptor fd)
    {
        if (fd.IsClosed || fd.IsInvalid)
        {
            return null;
        }

        Span<byte> link = stackalloc byte[32];
        var length = ProcFdPath.Write(link, fd.Value, ReadOnlySpan<byte>.Empty);
        var target = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            nint n;
            fixed (byte* l = link)
            fixed (byte* t = target)
            {
                n = Libc.ReadLinkAt(Libc.AtFdCwd, l, t, (nuint)target.Length);
            }

            return n > 0 && n < target.Length ? target.AsSpan(0, (int)n).ToArray() : null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(target);
        }
    }
}
