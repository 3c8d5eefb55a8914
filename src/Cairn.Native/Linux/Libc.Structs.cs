using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

internal static partial class Libc
{
    /// <summary><c>struct statx</c> from linux/stat.h; the same 256 bytes on every architecture.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    internal struct Statx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(16)] public uint LinkCount;
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Inode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(48)] public ulong Blocks;
        [FieldOffset(64)] public StatxTimestamp ATime;
        [FieldOffset(96)] public StatxTimestamp CTime;
        [FieldOffset(112)] public StatxTimestamp MTime;
        [FieldOffset(128)] public uint RDeviceMajor;
        [FieldOffset(132)] public uint RDeviceMinor;
        [FieldOffset(136)] public uint DeviceMajor;
        [FieldOffset(140)] public uint DeviceMinor;
        [FieldOffset(144)] public ulong MountId;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct StatxTimestamp
    {
        public long Seconds;
        public uint Nanoseconds;
        private readonly int _reserved;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary><c>struct file_clone_range</c> from linux/fs.h.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct FileCloneRange
    {
        public long SourceFd;
        public ulong SourceOffset;
        public ulong SourceLength;
        public ulong DestinationOffset;
    }

    /// <summary><c>struct cachestat_range</c> from linux/mman.h (length 0: to the end of the file).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CacheStatRange
    {
        public ulong Offset;
        public ulong Length;
    }

    /// <summary><c>struct cachestat</c> from linux/mman.h: page counts.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CacheStatResult
    {
        public ulong Cached;
        public ulong Dirty;
        public ulong Writeback;
        public ulong Evicted;
        public ulong RecentlyEvicted;
    }
}
