using System.Runtime.InteropServices;
using Cairn.Native.Fuse;

namespace Cairn.Tests.Fuse;

/// <summary>The managed mirrors of libfuse/glibc structs, against sizeof/offsetof taken from the fuse3 3.14 headers with gcc on x86_64.</summary>
public sealed unsafe class FuseLayoutTests
{
    [Fact]
    public void Struct_sizes_match_the_x86_64_headers()
    {
        Assert.Equal(144, sizeof(NativeStat));
        Assert.Equal(176, sizeof(FuseEntryParam));
        Assert.Equal(40, sizeof(FuseFileInfo));
        Assert.Equal(128, sizeof(FuseConnInfo));
        Assert.Equal(352, sizeof(FuseLowLevelOps));
        Assert.Equal(112, sizeof(NativeStatVfs));
        Assert.Equal(24, sizeof(FuseArgs));
        Assert.Equal(16, sizeof(FuseForgetData));
        Assert.Equal(16, sizeof(IoVec));
        Assert.Equal(64, sizeof(FuseBufVec));
    }

    [Fact]
    public void Field_offsets_match_the_x86_64_headers()
    {
        Assert.Equal(24, Offset<NativeStat>(nameof(NativeStat.Mode)));
        Assert.Equal(40, Offset<NativeStat>(nameof(NativeStat.RDev)));
        Assert.Equal(88, Offset<NativeStat>(nameof(NativeStat.MTimeSec)));
        Assert.Equal(160, Offset<FuseEntryParam>(nameof(FuseEntryParam.AttrTimeout)));
        Assert.Equal(168, Offset<FuseEntryParam>(nameof(FuseEntryParam.EntryTimeout)));
        Assert.Equal(16, Offset<FuseFileInfo>(nameof(FuseFileInfo.Fh)));
        Assert.Equal(24, Offset<FuseConnInfo>(nameof(FuseConnInfo.Want)));
        Assert.Equal(120, Offset<FuseLowLevelOps>(nameof(FuseLowLevelOps.Read)));
        Assert.Equal(304, Offset<FuseLowLevelOps>(nameof(FuseLowLevelOps.ForgetMulti)));
        Assert.Equal(328, Offset<FuseLowLevelOps>(nameof(FuseLowLevelOps.ReadDirPlus)));
        Assert.Equal(344, Offset<FuseLowLevelOps>(nameof(FuseLowLevelOps.Lseek))); // the last pointer: libfuse 3.8 and later
        Assert.Equal(80, Offset<NativeStatVfs>(nameof(NativeStatVfs.NameMax)));
        Assert.Equal(24, Offset<FuseBufVec>(nameof(FuseBufVec.Size))); // buf[0].size
        Assert.Equal(40, Offset<FuseBufVec>(nameof(FuseBufVec.Memory))); // buf[0].mem
        Assert.Equal(48, Offset<FuseBufVec>(nameof(FuseBufVec.Fd))); // buf[0].fd
        Assert.Equal(56, Offset<FuseBufVec>(nameof(FuseBufVec.Position))); // buf[0].pos

        // Bit-field positions in the word at offset 4 (gcc: first declared = least significant bit).
        Assert.Equal(0x02u, FuseFileInfo.DirectIo);
        Assert.Equal(0x04u, FuseFileInfo.KeepCache);
        Assert.Equal(0x40u, FuseFileInfo.CacheReaddir);
        Assert.Equal(0x80u, FuseFileInfo.NoFlush);
    }

    [Fact]
    public void Times_before_1970_split_into_a_non_negative_nanosecond_part()
    {
        NativeStat stat;
        FuseConvert.ToStat(new FuseAttr(5, FuseMode.RegularFile, 1, 0, 0, 0, 0, -1, 1_500_000_000, -1_500_000_000, 0), &stat);

        Assert.Equal((-1L, 999_999_999L), (stat.ATimeSec, stat.ATimeNsec));
        Assert.Equal((1L, 500_000_000L), (stat.MTimeSec, stat.MTimeNsec));
        Assert.Equal((-2L, 500_000_000L), (stat.CTimeSec, stat.CTimeNsec));
        Assert.Equal(5UL, stat.Ino);
    }

    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}
