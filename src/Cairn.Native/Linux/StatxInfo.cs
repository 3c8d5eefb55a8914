using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>
/// The metadata of one file, from <c>statx(2)</c>. Times are nanoseconds since the Unix epoch; times that do not fit
/// (before 1677 or after 2262) are clamped to <see cref="long.MinValue"/> / <see cref="long.MaxValue"/>.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct StatxInfo
{
    internal StatxInfo(in Libc.Statx s)
    {
        Mode = s.Mode;
        Uid = s.Uid;
        Gid = s.Gid;
        Size = (long)s.Size;
        Blocks = (long)s.Blocks;
        Inode = s.Inode;
        Device = DeviceNumber.Make(s.DeviceMajor, s.DeviceMinor);
        RDevice = DeviceNumber.Make(s.RDeviceMajor, s.RDeviceMinor);
        LinkCount = s.LinkCount;
        MTimeNs = TimeConversion.ToNanoseconds(s.MTime);
        CTimeNs = TimeConversion.ToNanoseconds(s.CTime);
        ATimeNs = TimeConversion.ToNanoseconds(s.ATime);
    }

    public FileKind Kind => FileKinds.FromMode(Mode);

    /// <summary>The full <c>st_mode</c>, including the file type bits.</summary>
    public uint Mode { get; }

    /// <summary>The permission bits, including set-uid, set-gid and sticky (<c>Mode &amp; 07777</c>).</summary>
    public uint Permissions => Mode & 0xFFF;

    public uint Uid { get; }

    public uint Gid { get; }

    public long Size { get; }

    /// <summary>Allocated space in 512-byte units, whatever the file system's block size.</summary>
    public long Blocks { get; }

    public ulong Inode { get; }

    /// <summary>The device holding the file, encoded like glibc's <c>makedev(major, minor)</c>.</summary>
    public ulong Device { get; }

    /// <summary>For character and block devices, the device they stand for (<c>makedev</c> encoding); else 0.</summary>
    public ulong RDevice { get; }

    public uint LinkCount { get; }

    public long MTimeNs { get; }

    public long CTimeNs { get; }

    public long ATimeNs { get; }
}
