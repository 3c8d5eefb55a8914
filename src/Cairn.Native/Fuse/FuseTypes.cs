namespace Cairn.Native.Fuse;

/// <summary>
/// Attributes of an inode as reported to the kernel (the subset of struct stat FUSE uses).
/// <paramref name="Mode"/> includes the file type bits (see <see cref="FuseMode"/>); times are nanoseconds since the Unix epoch.
/// </summary>
public readonly record struct FuseAttr(
    ulong Inode,
    uint Mode,
    uint LinkCount,
    uint Uid,
    uint Gid,
    long Size,
    long Blocks,
    long ATimeNs,
    long MTimeNs,
    long CTimeNs,
    ulong RDevice);

/// <summary>
/// A directory entry handed to the kernel by lookup or readdirplus. Each successful lookup (and each
/// readdirplus entry other than "." and "..") adds one to the kernel's lookup count of the inode, which it
/// later gives back through <see cref="IFuseFileSystem.Forget"/>.
/// </summary>
public readonly record struct FuseEntry(FuseAttr Attr, double EntryTimeoutSeconds, double AttrTimeoutSeconds, ulong Generation = 0);

/// <summary>File-system statistics (the fields of struct statvfs that FUSE forwards).</summary>
public readonly record struct FuseStatFs(
    ulong BlockSize,
    ulong FragmentSize,
    ulong Blocks,
    ulong BlocksFree,
    ulong BlocksAvailable,
    ulong Files,
    ulong FilesFree,
    ulong NameMax = 255);

/// <summary>File type bits of st_mode (S_IF*).</summary>
public static class FuseMode
{
    public const uint TypeMask = 0xF000;
    public const uint Fifo = 0x1000;
    public const uint CharacterDevice = 0x2000;
    public const uint Directory = 0x4000;
    public const uint BlockDevice = 0x6000;
    public const uint RegularFile = 0x8000;
    public const uint SymbolicLink = 0xA000;
    public const uint Socket = 0xC000;
}

/// <summary>The whence of lseek(2) (SEEK_*): the kernel sends only <see cref="Data"/> and <see cref="Hole"/> to a FUSE server.</summary>
public enum FuseSeekWhence
{
    Set = 0,
    Current = 1,
    End = 2,
    Data = 3,
    Hole = 4,
}

/// <summary>Severity of a message logged by libfuse itself (enum fuse_log_level).</summary>
public enum FuseLogLevel
{
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

/// <summary>What <see cref="FuseMount.Unmount"/> had to do.</summary>
public enum FuseUnmountResult
{
    /// <summary>The session had already ended (for example unmounted externally with <c>fusermount3 -u</c>).</summary>
    AlreadyUnmounted,

    /// <summary>A regular unmount succeeded.</summary>
    Unmounted,

    /// <summary>The mount was busy (or already detached), so it was detached lazily (MNT_DETACH / <c>fusermount3 -u -z</c>); open files now fail with ENOTCONN.</summary>
    LazilyUnmounted,
}
