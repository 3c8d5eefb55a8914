namespace Cairn.Native.Linux;

/// <summary>Device numbers in glibc's 64-bit <c>dev_t</c> encoding (<c>makedev</c>, <c>major</c>, <c>minor</c>).</summary>
public static class DeviceNumber
{
    public static ulong Make(uint major, uint minor) =>
        ((ulong)(major & 0x00000FFFu) << 8)
        | ((ulong)(major & 0xFFFFF000u) << 32)
        | (minor & 0x000000FFu)
        | ((ulong)(minor & 0xFFFFFF00u) << 12);

    public static uint Major(ulong device) => (uint)(((device >> 32) & 0xFFFFF000u) | ((device >> 8) & 0x00000FFFu));

    public static uint Minor(ulong device) => (uint)(((device >> 12) & 0xFFFFFF00u) | (device & 0x000000FFu));
}
