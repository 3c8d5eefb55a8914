using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>
/// The glibc entry points used by <see cref="LinuxFile"/>. They return -1 and set errno on failure; nothing here throws
/// except the SafeHandle marshalling (ObjectDisposedException for a closed descriptor).
/// Assumes a 64-bit process (x86_64, aarch64): off_t, time_t and long are 64 bits, so the plain names are the 64-bit calls.
/// </summary>
/// <remarks>
/// openat, ioctl and fcntl are variadic in C. Declaring the variadic argument as a fixed one is correct on the
/// x86_64 and aarch64 Linux ABIs, where integer and pointer varargs travel in the same registers as fixed arguments.
/// </remarks>
internal static unsafe partial class Libc
{
    private const string Library = "libc.so.6";

    [LibraryImport(Library, EntryPoint = "openat", SetLastError = true)]
    internal static partial int OpenAt(FileDescriptor directory, byte* name, int flags, uint mode);

    [LibraryImport(Library, EntryPoint = "openat", SetLastError = true)]
    internal static partial int OpenAt(int directory, byte* name, int flags, uint mode);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Library, EntryPoint = "statx", SetLastError = true)]
    internal static partial int GetStatx(FileDescriptor directory, byte* name, int flags, uint mask, Statx* result);

    [LibraryImport(Library, EntryPoint = "getdents64", SetLastError = true)]
    internal static partial nint GetDents64(FileDescriptor directory, byte* buffer, nuint length);

    [LibraryImport(Library, EntryPoint = "readlinkat", SetLastError = true)]
    internal static partial nint ReadLinkAt(FileDescriptor directory, byte* name, byte* buffer, nuint size);

    [LibraryImport(Library, EntryPoint = "readlinkat", SetLastError = true)]
    internal static partial nint ReadLinkAt(int directory, byte* name, byte* buffer, nuint size);

    [LibraryImport(Library, EntryPoint = "pread64", SetLastError = true)]
    internal static partial nint PRead(FileDescriptor fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Library, EntryPoint = "pwrite64", SetLastError = true)]
    internal static partial nint PWrite(FileDescriptor fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Library, EntryPoint = "mmap", SetLastError = true)]
    internal static partial IntPtr MMap(IntPtr address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport(Library, EntryPoint = "munmap", SetLastError = true)]
    internal static partial int MUnmap(IntPtr address, nuint length);

    [LibraryImport(Library, EntryPoint = "lseek", SetLastError = true)]
    internal static partial long LSeek(FileDescriptor fd, long offset, int whence);

    [LibraryImport(Library, EntryPoint = "mkdirat", SetLastError = true)]
    internal static partial int MkdirAt(FileDescriptor directory, byte* name, uint mode);

    [LibraryImport(Library, EntryPoint = "symlinkat", SetLastError = true)]
    internal static partial int SymlinkAt(byte* target, FileDescriptor directory, byte* name);

    [LibraryImport(Library, EntryPoint = "linkat", SetLastError = true)]
    internal static partial int LinkAt(FileDescriptor oldDirectory, byte* oldName, FileDescriptor newDirectory, byte* newName, int flags);

    [LibraryImport(Library, EntryPoint = "mknodat", SetLastError = true)]
    internal static partial int MknodAt(FileDescriptor directory, byte* name, uint mode, ulong device);

    [LibraryImport(Library, EntryPoint = "fchownat", SetLastError = true)]
    internal static partial int FChownAt(FileDescriptor directory, byte* name, uint uid, uint gid, int flags);

    [LibraryImport(Library, EntryPoint = "fchown", SetLastError = true)]
    internal static partial int FChown(FileDescriptor fd, uint uid, uint gid);

    [LibraryImport(Library, EntryPoint = "fchmod", SetLastError = true)]
    internal static partial int FChmod(FileDescriptor fd, uint mode);

    [LibraryImport(Library, EntryPoint = "fchmodat", SetLastError = true)]
    internal static partial int FChmodAt(FileDescriptor directory, byte* name, uint mode, int flags);

    [LibraryImport(Library, EntryPoint = "utimensat", SetLastError = true)]
    internal static partial int UTimensAt(FileDescriptor directory, byte* name, Timespec* times, int flags);

    [LibraryImport(Library, EntryPoint = "futimens", SetLastError = true)]
    internal static partial int FUTimens(FileDescriptor fd, Timespec* times);

    [LibraryImport(Library, EntryPoint = "renameat2", SetLastError = true)]
    internal static partial int RenameAt2(FileDescriptor oldDirectory, byte* oldName, FileDescriptor newDirectory, byte* newName, uint flags);

    [LibraryImport(Library, EntryPoint = "unlinkat", SetLastError = true)]
    internal static partial int UnlinkAt(FileDescriptor directory, byte* name, int flags);

    [LibraryImport(Library, EntryPoint = "ftruncate", SetLastError = true)]
    internal static partial int FTruncate(FileDescriptor fd, long length);

    [LibraryImport(Library, EntryPoint = "fallocate", SetLastError = true)]
    internal static partial int FAllocate(FileDescriptor fd, int mode, long offset, long length);

    // cachestat(2) (Linux 6.5) has no glibc wrapper yet; its number is the same on every architecture.
    internal const long SysCacheStat = 451;

    [LibraryImport(Library, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long CacheStat(long number, FileDescriptor fd, CacheStatRange* range, CacheStatResult* result, uint flags);

    // ioprio_set(2) has no glibc wrapper; its number differs between architectures (-1: not known here).
    internal static readonly long SysIoPrioSet = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => 251,
        Architecture.Arm64 => 30, // the generic table's
        _ => -1,
    };

    [LibraryImport(Library, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long IoPrioSet(long number, int which, int who, int priority);

    // pidfd_open(2) (Linux 5.3) and pidfd_send_signal(2) (5.1): glibc wraps them only since 2.36; their numbers are the
    // same on every architecture.
    internal const long SysPidFdSendSignal = 424;
    internal const long SysPidFdOpen = 434;

    [LibraryImport(Library, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long PidFdOpen(long number, int pid, uint flags);

    [LibraryImport(Library, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long PidFdSendSignal(long number, FileDescriptor pidfd, int signal, void* info, uint flags);

    [LibraryImport(Library, EntryPoint = "flock", SetLastError = true)]
    internal static partial int Flock(FileDescriptor fd, int operation);

    [LibraryImport(Library, EntryPoint = "fsync", SetLastError = true)]
    internal static partial int FSync(FileDescriptor fd);

    [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int FCntl(FileDescriptor fd, int command);

    [LibraryImport(Library, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int FCntl(FileDescriptor fd, int command, int argument);

    [LibraryImport(Library, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int IoctlClone(FileDescriptor destination, nuint request, FileDescriptor source);

    [LibraryImport(Library, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int IoctlCloneRange(FileDescriptor destination, nuint request, FileCloneRange* range);

    [LibraryImport(Library, EntryPoint = "llistxattr", SetLastError = true)]
    internal static partial nint LListXattr(byte* path, byte* list, nuint size);

    [LibraryImport(Library, EntryPoint = "lgetxattr", SetLastError = true)]
    internal static partial nint LGetXattr(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport(Library, EntryPoint = "lsetxattr", SetLastError = true)]
    internal static partial int LSetXattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Library, EntryPoint = "flistxattr", SetLastError = true)]
    internal static partial nint FListXattr(FileDescriptor fd, byte* list, nuint size);

    [LibraryImport(Library, EntryPoint = "fgetxattr", SetLastError = true)]
    internal static partial nint FGetXattr(FileDescriptor fd, byte* name, byte* value, nuint size);

    [LibraryImport(Library, EntryPoint = "fsetxattr", SetLastError = true)]
    internal static partial int FSetXattr(FileDescriptor fd, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Library, EntryPoint = "setpriority", SetLastError = true)]
    internal static partial int SetPriority(int which, int who, int priority);

    [LibraryImport(Library, EntryPoint = "gettid")]
    internal static partial int GetTid();

    [LibraryImport(Library, EntryPoint = "mlock2", SetLastError = true)]
    internal static partial int MLock2(void* address, nuint length, uint flags);

    [LibraryImport(Library, EntryPoint = "getrandom", SetLastError = true)]
    internal static partial nint GetRandom(byte* buffer, nuint length, uint flags);

    [LibraryImport(Library, EntryPoint = "setsid", SetLastError = true)]
    internal static partial int SetSid();

    [LibraryImport(Library, EntryPoint = "geteuid")]
    internal static partial uint GetEUid();

    [LibraryImport(Library, EntryPoint = "getegid")]
    internal static partial uint GetEGid();

    [LibraryImport(Library, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mount(string source, string target, string type, nuint flags, string? data);

    [LibraryImport(Library, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Umount2(string target, int flags);
}
