using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

[assembly: InternalsVisibleTo("Cairn.Tests")]

namespace Cairn.Native.Fuse;

/// <summary>
/// Raw imports from libfuse3 (low-level API). Only the runtime package (libfuse3-3, fuse3 ≥ 3.12) is needed.
/// Every struct below was checked with offsetof/sizeof against the fuse3 3.14 headers on linux-x64
/// (see FuseLayoutTests); other architectures are refused by <see cref="FuseMount.Start"/>.
/// </summary>
internal static unsafe partial class FuseNative
{
    internal const string Library = "libfuse3.so.3";

    [LibraryImport(Library)]
    internal static partial nint fuse_session_new(FuseArgs* args, FuseLowLevelOps* ops, nuint opSize, nint userdata);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int fuse_session_mount(nint session, string mountPoint);

    // The library exports fuse_session_loop_mt in three versions (FUSE_3.0, FUSE_3.2 and the default FUSE_3.12).
    // fuse_session_loop_mt_312 is the plain, unversioned name of the 3.12 implementation, which takes a
    // struct fuse_loop_config* created by fuse_loop_cfg_create; binding it by name avoids relying on dlsym's
    // choice of default symbol version.
    [LibraryImport(Library, EntryPoint = "fuse_session_loop_mt_312")]
    internal static partial int fuse_session_loop_mt(nint session, nint config);

    [LibraryImport(Library)]
    internal static partial void fuse_session_exit(nint session);

    [LibraryImport(Library)]
    internal static partial void fuse_session_unmount(nint session);

    [LibraryImport(Library)]
    internal static partial void fuse_session_destroy(nint session);

    [LibraryImport(Library)]
    internal static partial nint fuse_loop_cfg_create();

    [LibraryImport(Library)]
    internal static partial void fuse_loop_cfg_destroy(nint config);

    [LibraryImport(Library)]
    internal static partial void fuse_loop_cfg_set_max_threads(nint config, uint value);

    [LibraryImport(Library)]
    internal static partial void fuse_opt_free_args(FuseArgs* args);

    [LibraryImport(Library)]
    internal static partial void fuse_set_log_func(delegate* unmanaged[Cdecl]<int, byte*, nint, void> logFunction);

    [LibraryImport(Library), SuppressGCTransition]
    internal static partial nint fuse_req_userdata(nint request);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_err(nint request, int error);

    [LibraryImport(Library)]
    internal static partial void fuse_reply_none(nint request);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_entry(nint request, FuseEntryParam* entry);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_attr(nint request, NativeStat* attr, double attrTimeout);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_readlink(nint request, byte* link);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_open(nint request, FuseFileInfo* fileInfo);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_buf(nint request, byte* buffer, nuint size);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_iov(nint request, IoVec* iov, int count);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_statfs(nint request, NativeStatVfs* stats);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_xattr(nint request, nuint count);

    [LibraryImport(Library)]
    internal static partial int fuse_reply_lseek(nint request, long offset);

    // Pure buffer formatting (memcpy), no locks or system calls: safe without a GC transition.
    [LibraryImport(Library), SuppressGCTransition]
    internal static partial nuint fuse_add_direntry(nint request, byte* buffer, nuint bufferSize, byte* name, NativeStat* stat, long nextOffset);

    [LibraryImport(Library), SuppressGCTransition]
    internal static partial nuint fuse_add_direntry_plus(nint request, byte* buffer, nuint bufferSize, byte* name, FuseEntryParam* entry, long nextOffset);

    [LibraryImport(Library)]
    internal static partial int fuse_lowlevel_notify_store(nint session, ulong inode, long offset, FuseBufVec* buffers, int copyFlags);

    // FUSE_CAP_* (fuse_common.h, 3.14).
    internal const uint CapAsyncRead = 1 << 0;
    internal const uint CapExportSupport = 1 << 4;
    internal const uint CapSpliceWrite = 1 << 7;
    internal const uint CapSpliceMove = 1 << 8;
    internal const uint CapSpliceRead = 1 << 9;
    internal const uint CapAutoInvalData = 1 << 12;
    internal const uint CapReaddirplus = 1 << 13;
    internal const uint CapReaddirplusAuto = 1 << 14;
    internal const uint CapWritebackCache = 1 << 16;
    internal const uint CapParallelDirops = 1 << 18;
    internal const uint CapCacheSymlinks = 1 << 23;
}

/// <summary>struct fuse_args.</summary>
[StructLayout(LayoutKind.Explicit, Size = 24)]
internal unsafe struct FuseArgs
{
    [FieldOffset(0)] public int Argc;
    [FieldOffset(8)] public byte** Argv;
    [FieldOffset(16)] public int Allocated;
}

/// <summary>struct stat as laid out by glibc on x86_64 (144 bytes). aarch64 differs (128 bytes, other order).</summary>
[StructLayout(LayoutKind.Explicit, Size = 144)]
internal struct NativeStat
{
    [FieldOffset(0)] public ulong Dev;
    [FieldOffset(8)] public ulong Ino;
    [FieldOffset(16)] public ulong NLink;
    [FieldOffset(24)] public uint Mode;
    [FieldOffset(28)] public uint Uid;
    [FieldOffset(32)] public uint Gid;
    [FieldOffset(40)] public ulong RDev;
    [FieldOffset(48)] public long Size;
    [FieldOffset(56)] public long BlkSize;
    [FieldOffset(64)] public long Blocks;
    [FieldOffset(72)] public long ATimeSec;
    [FieldOffset(80)] public long ATimeNsec;
    [FieldOffset(88)] public long MTimeSec;
    [FieldOffset(96)] public long MTimeNsec;
    [FieldOffset(104)] public long CTimeSec;
    [FieldOffset(112)] public long CTimeNsec;
}

/// <summary>struct fuse_entry_param (176 bytes on x86_64).</summary>
[StructLayout(LayoutKind.Explicit, Size = 176)]
internal struct FuseEntryParam
{
    [FieldOffset(0)] public ulong Ino;
    [FieldOffset(8)] public ulong Generation;
    [FieldOffset(16)] public NativeStat Attr;
    [FieldOffset(160)] public double AttrTimeout;
    [FieldOffset(168)] public double EntryTimeout;
}

/// <summary>struct fuse_file_info (40 bytes). The bit-fields share the 32-bit word at offset 4, first declared = bit 0.</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal struct FuseFileInfo
{
    [FieldOffset(0)] public int Flags;
    [FieldOffset(4)] public uint Bits;
    [FieldOffset(16)] public ulong Fh;
    [FieldOffset(24)] public ulong LockOwner;
    [FieldOffset(32)] public uint PollEvents;

    public const uint DirectIo = 1 << 1;
    public const uint KeepCache = 1 << 2;
    public const uint Nonseekable = 1 << 4;
    public const uint CacheReaddir = 1 << 6;
    public const uint NoFlush = 1 << 7;
}

/// <summary>struct fuse_conn_info (3.14: ten unsigned fields + 22 reserved = 128 bytes).</summary>
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal struct FuseConnInfo
{
    [FieldOffset(0)] public uint ProtoMajor;
    [FieldOffset(4)] public uint ProtoMinor;
    [FieldOffset(8)] public uint MaxWrite;
    [FieldOffset(12)] public uint MaxRead;
    [FieldOffset(16)] public uint MaxReadahead;
    [FieldOffset(20)] public uint Capable;
    [FieldOffset(24)] public uint Want;
    [FieldOffset(28)] public uint MaxBackground;
    [FieldOffset(32)] public uint CongestionThreshold;
    [FieldOffset(36)] public uint TimeGran;
}

/// <summary>struct statvfs on x86_64 (112 bytes). libfuse only forwards bsize, frsize, blocks, bfree, bavail, files, ffree and namemax.</summary>
[StructLayout(LayoutKind.Explicit, Size = 112)]
internal struct NativeStatVfs
{
    [FieldOffset(0)] public ulong BlockSize;
    [FieldOffset(8)] public ulong FragmentSize;
    [FieldOffset(16)] public ulong Blocks;
    [FieldOffset(24)] public ulong BlocksFree;
    [FieldOffset(32)] public ulong BlocksAvailable;
    [FieldOffset(40)] public ulong Files;
    [FieldOffset(48)] public ulong FilesFree;
    [FieldOffset(56)] public ulong FilesAvailable;
    [FieldOffset(64)] public ulong FsId;
    [FieldOffset(72)] public ulong Flag;
    [FieldOffset(80)] public ulong NameMax;
}

/// <summary>struct fuse_forget_data.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct FuseForgetData
{
    [FieldOffset(0)] public ulong Ino;
    [FieldOffset(8)] public ulong NLookup;
}

/// <summary>struct fuse_bufvec holding one memory buffer (struct fuse_buf: size, flags, mem, fd, pos).</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal unsafe struct FuseBufVec
{
    [FieldOffset(0)] public nuint Count;
    [FieldOffset(8)] public nuint Index;
    [FieldOffset(16)] public nuint Offset;
    [FieldOffset(24)] public nuint Size;
    [FieldOffset(32)] public int Flags;
    [FieldOffset(40)] public void* Memory;
    [FieldOffset(48)] public int Fd;
    [FieldOffset(56)] public long Position;
}

/// <summary>struct iovec.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal unsafe struct IoVec
{
    [FieldOffset(0)] public void* Base;
    [FieldOffset(8)] public nuint Length;
}

/// <summary>
/// struct fuse_lowlevel_ops (3.14: 44 function pointers, 352 bytes). Only the operations Cairn implements are
/// declared, at their header offsets; the others stay NULL so libfuse answers ENOSYS (or its documented default).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 352)]
internal unsafe struct FuseLowLevelOps
{
    [FieldOffset(0)] public delegate* unmanaged[Cdecl]<nint, FuseConnInfo*, void> Init;
    [FieldOffset(16)] public delegate* unmanaged[Cdecl]<nint, ulong, byte*, void> Lookup;
    [FieldOffset(24)] public delegate* unmanaged[Cdecl]<nint, ulong, ulong, void> Forget;
    [FieldOffset(32)] public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> GetAttr;
    [FieldOffset(48)] public delegate* unmanaged[Cdecl]<nint, ulong, void> ReadLink;
    [FieldOffset(112)] public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> Open;
    [FieldOffset(120)] public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FuseFileInfo*, void> Read;
    [FieldOffset(144)] public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> Release;
    [FieldOffset(160)] public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> OpenDir;
    [FieldOffset(168)] public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FuseFileInfo*, void> ReadDir;
    [FieldOffset(176)] public delegate* unmanaged[Cdecl]<nint, ulong, FuseFileInfo*, void> ReleaseDir;
    [FieldOffset(192)] public delegate* unmanaged[Cdecl]<nint, ulong, void> StatFs;
    [FieldOffset(208)] public delegate* unmanaged[Cdecl]<nint, ulong, byte*, nuint, void> GetXattr;
    [FieldOffset(216)] public delegate* unmanaged[Cdecl]<nint, ulong, nuint, void> ListXattr;
    [FieldOffset(304)] public delegate* unmanaged[Cdecl]<nint, nuint, FuseForgetData*, void> ForgetMulti;
    [FieldOffset(328)] public delegate* unmanaged[Cdecl]<nint, ulong, nuint, long, FuseFileInfo*, void> ReadDirPlus;
    [FieldOffset(344)] public delegate* unmanaged[Cdecl]<nint, ulong, long, int, FuseFileInfo*, void> Lseek;
}

/// <summary>The few libc calls the FUSE layer needs (stale-mount detection, formatting libfuse's log).</summary>
internal static unsafe partial class FuseLibC
{
    private const string Library = "libc.so.6";

    /// <summary>statfs(2); <paramref name="buffer"/> must hold a struct statfs (120 bytes on x86_64).</summary>
    [LibraryImport(Library, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int statfs(string path, byte* buffer);

    /// <summary>vsnprintf with a va_list; on x86_64 a va_list parameter is a pointer to __va_list_tag.</summary>
    [LibraryImport(Library)]
    internal static partial int vsnprintf(byte* buffer, nuint size, byte* format, nint arguments);
}
