using System.Runtime.InteropServices;
using Cairn.Format;

namespace Cairn.Manifests;

/// <summary>What a tree entry is. The values are part of the manifest format.</summary>
public enum EntryKind : byte
{
    Regular = 1,
    Directory = 2,
    Symlink = 3,
    Fifo = 4,
    CharDevice = 5,
    BlockDevice = 6,

    /// <summary>Another name of a regular file that appears earlier in the tree (<see cref="EntryRecord.First"/> is its index).</summary>
    Hardlink = 7,
}

[Flags]
public enum EntryTraits : byte
{
    None = 0,

    /// <summary>The file has holes: its chunk references do not cover every byte; the gaps read as zeros.</summary>
    Sparse = 1,
}

/// <summary>
/// One tree entry, 56 bytes, little-endian, exactly as stored in the ENTRIES section. Index 0 is the root directory;
/// a directory's children are contiguous, after it, and sorted by name (byte-wise), so an entry's index is a stable
/// inode number and a name lookup is a binary search.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct EntryRecord
{
    public EntryKind Kind;
    public EntryTraits Traits;
    public ushort NameLength;
    public uint NameOffset;

    /// <summary>Permission bits (<c>07777</c>); the file type is <see cref="Kind"/>.</summary>
    public uint Mode;
    public uint Uid;
    public uint Gid;
    public uint XattrStart;
    public long MTimeNs;

    /// <summary>Regular: logical size in bytes. Symlink: target length. Otherwise 0.</summary>
    public long Size;

    /// <summary>Directory: first child index. Regular: first chunk reference. Symlink: target offset in STRINGS. Hardlink: the entry it names. Device: low 32 bits of rdev.</summary>
    public uint First;

    /// <summary>Directory: number of children. Regular: number of chunk references. Device: high 32 bits of rdev.</summary>
    public uint Count;
    public ushort XattrCount;
    public ushort Reserved0;
    public uint Reserved1;

    public readonly ulong DeviceNumber => ((ulong)Count << 32) | First;
}

/// <summary>A piece of a regular file: <see cref="Chunk"/> (index into CHUNKS) holds the bytes at <see cref="Offset"/>. 12 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct ChunkRef
{
    public long Offset;
    public uint Chunk;
}

/// <summary>A chunk the snapshot uses: the SHA-256 of its plaintext and its length. 36 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct ChunkRecord
{
    public ContentId Id;
    public uint Length;
}

/// <summary>An extended attribute: name and value, both byte ranges in STRINGS. 16 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct XattrRecord
{
    public uint NameOffset;
    public uint NameLength;
    public uint ValueOffset;
    public uint ValueLength;
}

/// <summary>Where chunk i (same index as CHUNKS) lives: a frame of the FRAMES table and an offset inside it. 8 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct ChunkLocation
{
    public uint Frame;
    public uint OffsetInFrame;
}

/// <summary>A compressed frame: pack (index into PACKS), offset and lengths in the pack, CRC-32C of the compressed bytes. 24 bytes.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct FrameRecord
{
    public long Offset;
    public uint Pack;
    public uint CompressedLength;
    public uint UncompressedLength;
    public uint Checksum;
}

/// <summary>
/// What the source file looked like when it was read, for change detection by the next incremental snapshot.
/// Not part of the snapshot's identity. 24 bytes, one per entry.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct SourceRecord
{
    public long CTimeNs;
    public ulong Inode;
    public ulong Device;
}
