using System.Text;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Linux;

namespace Cairn.Tests.Format;

/// <summary>
/// A small manifest built by hand, field by field, with one entry of every kind. Tests take its parts, break one
/// thing, and build it: <c>SampleManifest.Parts()</c> → change → <see cref="ToManifest"/>.
/// </summary>
/// <remarks>
/// Entries (breadth-first): 0 root/ [a, d, h, l]; 1 a (file, 300 bytes: two 100-byte chunks around a hole, user.k=v);
/// 2 d/ [f, n]; 3 h (hardlink to a); 4 l (symlink to "a"); 5 d/f (FIFO); 6 d/n (char device 1:3).
/// </remarks>
internal sealed class SampleManifest
{
    private readonly List<byte> _strings = [];

    private SampleManifest()
    {
        Entries =
        [
            Entry(EntryKind.Directory, "", 0b111_101_101, first: 1, count: 4),
            Entry(EntryKind.Regular, "a", 0b110_100_100, first: 0, count: 2, size: 300) with { Traits = EntryTraits.Sparse, XattrStart = 0, XattrCount = 1 },
            Entry(EntryKind.Directory, "d", 0b111_000_000, first: 5, count: 2),
            Entry(EntryKind.Hardlink, "h", 0b110_100_100, first: 1),
            Entry(EntryKind.Symlink, "l", 0b111_111_111, first: Add("a"), size: 1),
            Entry(EntryKind.Fifo, "f", 0b110_100_000),
            Entry(EntryKind.CharDevice, "n", 0b110_110_110, first: (uint)DeviceNumber.Make(1, 3), count: (uint)(DeviceNumber.Make(1, 3) >> 32)),
        ];
        var keyOffset = Add("user.k");
        Xattrs = [new XattrRecord { NameOffset = keyOffset, NameLength = 6, ValueOffset = Add("v"), ValueLength = 1 }];
        ChunkRefs = [new ChunkRef { Offset = 0, Chunk = 0 }, new ChunkRef { Offset = 200, Chunk = 1 }];
        Chunks = [new ChunkRecord { Id = Id("chunk 0"), Length = 100 }, new ChunkRecord { Id = Id("chunk 1"), Length = 100 }];
        Packs = [Id("pack 0")];
        Frames = [new FrameRecord { Offset = 16, Pack = 0, CompressedLength = 150, UncompressedLength = 200, Checksum = 0x1234_5678 }];
        Locations = [new ChunkLocation { Frame = 0, OffsetInFrame = 0 }, new ChunkLocation { Frame = 0, OffsetInFrame = 100 }];
        Sources = [.. Enumerable.Range(0, Entries.Length).Select(i => new SourceRecord { CTimeNs = 1000 + i, Inode = (ulong)(100 + i), Device = 0x803 })];
        SegmentSizes = [128 << 10];
    }

    public EntryRecord[] Entries { get; set; }

    public XattrRecord[] Xattrs { get; set; }

    public ChunkRef[] ChunkRefs { get; set; }

    public ChunkRecord[] Chunks { get; set; }

    public ContentId[] Packs { get; set; }

    public FrameRecord[] Frames { get; set; }

    public ChunkLocation[] Locations { get; set; }

    public SourceRecord[]? Sources { get; set; }

    public uint[]? SegmentSizes { get; set; }

    public int StringsLength => _strings.Count;

    public static SampleManifest Parts() => new();

    public static Manifest Build() => Parts().ToManifest();

    /// <summary>Appends a string to STRINGS and returns its offset (to give an entry another name).</summary>
    public uint Add(string text) => Add(Encoding.UTF8.GetBytes(text));

    public uint Add(byte[] bytes)
    {
        var offset = (uint)_strings.Count;
        _strings.AddRange(bytes);
        return offset;
    }

    /// <summary>Renames entry <paramref name="index"/> (no check: that is the point).</summary>
    public void Rename(int index, byte[] name)
    {
        Entries[index].NameOffset = Add(name);
        Entries[index].NameLength = (ushort)name.Length;
    }

    public Manifest ToManifest() => new(Entries, [.. _strings], Xattrs, ChunkRefs, Chunks, Packs, Frames, Locations, Sources, SegmentSizes);

    private EntryRecord Entry(EntryKind kind, string name, uint mode, uint first = 0, uint count = 0, long size = 0) => new()
    {
        Kind = kind,
        NameOffset = Add(name),
        NameLength = (ushort)Encoding.UTF8.GetByteCount(name),
        Mode = mode,
        Uid = 1000,
        Gid = 100,
        MTimeNs = 1_700_000_000_123_456_789,
        Size = size,
        First = first,
        Count = count,
    };

    private static ContentId Id(string text) => ContentId.Hash(Encoding.UTF8.GetBytes(text));
}
