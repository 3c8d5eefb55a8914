using System.Diagnostics.CodeAnalysis;

namespace Cairn.Native.Linux;

/// <summary>The type of a file-system entry, as encoded in <c>st_mode</c> or <c>d_type</c>.</summary>
[SuppressMessage("Design", "CA1028:Enum Storage should be Int32", Justification = "Stored per entry in large in-memory trees; a byte is enough.")]
public enum FileKind : byte
{
    Unknown = 0,
    Regular = 1,
    Directory = 2,
    Symlink = 3,
    Fifo = 4,
    CharDevice = 5,
    BlockDevice = 6,
    Socket = 7,
}

/// <summary>Conversions from the kernel's two encodings of a file type.</summary>
internal static class FileKinds
{
    internal const uint TypeMask = 0xF000; // S_IFMT

    internal static FileKind FromMode(uint mode) => (mode & TypeMask) switch
    {
        0x8000 => FileKind.Regular,     // S_IFREG
        0x4000 => FileKind.Directory,   // S_IFDIR
        0xA000 => FileKind.Symlink,     // S_IFLNK
        0x1000 => FileKind.Fifo,        // S_IFIFO
        0x2000 => FileKind.CharDevice,  // S_IFCHR
        0x6000 => FileKind.BlockDevice, // S_IFBLK
        0xC000 => FileKind.Socket,      // S_IFSOCK
        _ => FileKind.Unknown,
    };

    // d_type is S_IFMT >> 12 (DT_REG = 8, DT_DIR = 4, ...), so one table serves both.
    internal static FileKind FromDirentType(byte type) => FromMode((uint)type << 12);
}
