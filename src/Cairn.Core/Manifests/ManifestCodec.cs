using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Cairn.Format;

namespace Cairn.Manifests;

/// <summary>
/// Encodes and decodes the manifest object (docs/format.md, "Manifest"): a header, a section table, zstd-compressed
/// sections of fixed-size little-endian records, and a SHA-256 of everything before it. Decoding validates every
/// index, range, name and ordering rule, so restore and mount can trust what they get.
/// </summary>
public static class ManifestCodec
{
    public const uint Version = 1;
    private const int HeaderSize = 16;
    private const int SectionEntrySize = 32;
    private const int TrailerSize = 32;
    private const long MaxSectionLength = 1L << 30;
    internal const int MaxFrameLength = 64 << 20;

    private static ReadOnlySpan<byte> Magic => "CAIRNMAN"u8;

    private static ReadOnlySpan<byte> TreeHashDomain => "cairn.tree.v1"u8;

    /// <summary>Section ids. 1–15: identity (hashed into the tree hash); 16–31: locations; 32+: advisory.</summary>
    internal enum Section : uint
    {
        Entries = 1,
        Strings = 2,
        Xattrs = 3,
        ChunkRefs = 4,
        Chunks = 5,
        Packs = 16,
        Frames = 17,
        Locations = 18,
        Sources = 32,
    }

    public static byte[] Encode(Manifest manifest, int compressionLevel = 3)
    {
        CheckPlatform();
        var sections = new List<SectionData>
        {
            SectionData.Of(Section.Entries, manifest.Entries),
            SectionData.Of(Section.Strings, manifest.Strings),
            SectionData.Of(Section.Xattrs, manifest.Xattrs),
            SectionData.Of(Section.ChunkRefs, manifest.ChunkRefs),
            SectionData.Of(Section.Chunks, manifest.Chunks),
            SectionData.Of(Section.Packs, manifest.Packs),
            SectionData.Of(Section.Frames, manifest.Frames),
            SectionData.Of(Section.Locations, manifest.Locations),
        };
        if (manifest.Sources is not null)
        {
            sections.Add(SectionData.Of(Section.Sources, manifest.Sources));
        }

        manifest.TreeHash = ComputeTreeHash(sections);
        var compressed = sections.Select(s => ZstdFrames.Compress(s.Bytes, compressionLevel)).ToArray();

        var output = new BinaryBuilder(HeaderSize + (sections.Count * SectionEntrySize) + compressed.Sum(c => c.Length) + TrailerSize);
        output.Write(Magic);
        output.WriteUInt32(Version);
        output.WriteUInt32((uint)sections.Count);
        long offset = HeaderSize + (sections.Count * SectionEntrySize);
        for (var i = 0; i < sections.Count; i++)
        {
            output.WriteUInt32((uint)sections[i].Id);
            output.WriteUInt32(1); // encoding: zstd
            output.WriteUInt64((ulong)offset);
            output.WriteUInt64((ulong)compressed[i].Length);
            output.WriteUInt64((ulong)sections[i].ByteLength);
            offset += compressed[i].Length;
        }

        foreach (var c in compressed)
        {
            output.Write(c);
        }

        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(output.WrittenSpan, digest);
        output.Write(digest);
        return output.ToArray();
    }

    /// <summary>Decodes and validates a manifest. <paramref name="what"/> names it in errors (e.g. the object key).</summary>
    public static Manifest Decode(ReadOnlySpan<byte> data, string what)
    {
        CheckPlatform();
        if (data.Length < HeaderSize + TrailerSize || !data[..8].SequenceEqual(Magic))
        {
            throw new CorruptDataException($"{what} is not a Cairn manifest");
        }

        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(data[..^TrailerSize], digest);
        if (!digest.SequenceEqual(data[^TrailerSize..]))
        {
            throw new CorruptDataException($"{what} is corrupt (manifest checksum mismatch)");
        }

        var cursor = new BinaryCursor(data[..^TrailerSize], what);
        cursor.ReadBytes(8);
        var version = cursor.ReadUInt32();
        if (version != Version)
        {
            throw new CorruptDataException($"{what} is manifest format version {version}; this Cairn reads version {Version}");
        }

        var count = cursor.ReadInt32Checked(64);
        var sections = new List<SectionData>(count);
        for (var i = 0; i < count; i++)
        {
            var id = (Section)cursor.ReadUInt32();
            var encoding = cursor.ReadUInt32();
            var offset = cursor.ReadUInt64();
            var stored = cursor.ReadUInt64();
            var length = cursor.ReadUInt64();
            if (offset > (ulong)data.Length || stored > (ulong)data.Length - offset || length > MaxSectionLength || encoding > 1)
            {
                throw new CorruptDataException($"{what}: section {(uint)id} is out of bounds");
            }

            if (sections.Exists(s => s.Id == id))
            {
                throw new CorruptDataException($"{what}: section {(uint)id} appears twice");
            }

            var body = data.Slice((int)offset, (int)stored);
            var compressed = encoding == 1;
            sections.Add(id switch
            {
                Section.Entries => Read<EntryRecord>(id, body, compressed, (int)length, what),
                Section.Xattrs => Read<XattrRecord>(id, body, compressed, (int)length, what),
                Section.ChunkRefs => Read<ChunkRef>(id, body, compressed, (int)length, what),
                Section.Chunks => Read<ChunkRecord>(id, body, compressed, (int)length, what),
                Section.Packs => Read<ContentId>(id, body, compressed, (int)length, what),
                Section.Frames => Read<FrameRecord>(id, body, compressed, (int)length, what),
                Section.Locations => Read<ChunkLocation>(id, body, compressed, (int)length, what),
                Section.Sources => Read<SourceRecord>(id, body, compressed, (int)length, what),
                _ => Read<byte>(id, body, compressed, (int)length, what), // Strings, and sections newer than this reader
            });
        }

        var manifest = new Manifest(
            Records<EntryRecord>(sections, Section.Entries, what, required: true),
            Records<byte>(sections, Section.Strings, what, required: false),
            Records<XattrRecord>(sections, Section.Xattrs, what, required: true),
            Records<ChunkRef>(sections, Section.ChunkRefs, what, required: true),
            Records<ChunkRecord>(sections, Section.Chunks, what, required: true),
            Records<ContentId>(sections, Section.Packs, what, required: true),
            Records<FrameRecord>(sections, Section.Frames, what, required: true),
            Records<ChunkLocation>(sections, Section.Locations, what, required: true),
            sections.Exists(s => s.Id == Section.Sources) ? Records<SourceRecord>(sections, Section.Sources, what, required: true) : null);
        manifest.TreeHash = ComputeTreeHash(sections);
        ManifestValidator.Validate(manifest, what);
        return manifest;
    }

    private static bool IsIdentity(Section id) => (uint)id < 16;

    /// <summary>SHA-256 over the identity sections in id order, each as its id, its length and its bytes.</summary>
    private static ContentId ComputeTreeHash(List<SectionData> sections)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(TreeHashDomain);
        Span<byte> header = stackalloc byte[12];
        foreach (var section in sections.Where(s => IsIdentity(s.Id)).OrderBy(s => s.Id))
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)section.Id);
            BinaryPrimitives.WriteUInt64LittleEndian(header[4..], (ulong)section.ByteLength);
            hash.AppendData(header);
            hash.AppendData(section.Bytes);
        }

        return new ContentId(hash.GetHashAndReset());
    }

    /// <summary>
    /// Reads a section straight into an array of its records: no copy of its bytes is made, and the records are what
    /// the manifest keeps.
    /// </summary>
    private static SectionData Read<T>(Section id, ReadOnlySpan<byte> body, bool compressed, int length, string what)
        where T : unmanaged
    {
        var size = Unsafe.SizeOf<T>();
        if (length % size != 0)
        {
            throw new CorruptDataException($"{what}: section {id} is not a whole number of {size}-byte records");
        }

        // The sizes are checked before anything is allocated for them.
        var available = compressed ? ZstdFrames.ContentLength(body, length, what) : body.Length;
        if (available != length)
        {
            throw new CorruptDataException($"{what}: section {(uint)id} has the wrong length");
        }

        var records = GC.AllocateUninitializedArray<T>(length / size);
        var section = SectionData.Of(id, records);
        var bytes = MemoryMarshal.AsBytes(records.AsSpan());
        if (compressed)
        {
            ZstdFrames.DecompressInto(body, bytes, what);
        }
        else
        {
            body.CopyTo(bytes);
        }

        return section;
    }

    private static T[] Records<T>(List<SectionData> sections, Section id, string what, bool required)
        where T : unmanaged
    {
        var index = sections.FindIndex(s => s.Id == id);
        if (index < 0)
        {
            return required ? throw new CorruptDataException($"{what}: section {id} is missing") : [];
        }

        return (T[])sections[index].Records;
    }

    /// <summary>A section's records and their bytes, seen without a copy.</summary>
    private readonly record struct SectionData(Section Id, Array Records, int ByteLength)
    {
        public ReadOnlySpan<byte> Bytes => MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(Records), ByteLength);

        public static SectionData Of<T>(Section id, T[] records)
            where T : unmanaged => new(id, records, records.Length * Unsafe.SizeOf<T>());
    }

    private static void CheckPlatform()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Cairn's formats are little-endian; big-endian machines are not supported");
        }
    }
}
