namespace Cairn.Native.Linux;

internal static partial class Libc
{
    internal const int AtFdCwd = -100;
    internal const int AtSymlinkNoFollow = 0x100;
    internal const int AtRemoveDir = 0x200;
    internal const int AtEmptyPath = 0x1000;
    internal const int AtStatxSyncAsStat = 0;

    internal const uint StatxBasicStats = 0x7FF;
    internal const uint StatxMountId = 0x1000;

    internal const int SeekSet = 0;
    internal const int SeekData = 3;
    internal const int SeekHole = 4;

    internal const int FGetFl = 3;
    internal const int FSetFl = 4;
    internal const int OAccessMode = 3;
    internal const int OAppend = 0x400;
    internal const int OPath = 0x200000;

    internal const int ProtRead = 0x1;
    internal const int ProtWrite = 0x2;
    internal const int MapPrivate = 0x02;
    internal const int MapAnonymous = 0x20;
    internal static readonly IntPtr MapFailed = new(-1);

    internal const nuint FIClone = 0x40049409;
    internal const nuint FICloneRange = 0x4020940D;
}
