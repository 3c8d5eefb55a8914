using System.Buffers.Binary;
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
        var sections = new List<(Section Id, byte[] Raw)>
        {
            (Section.Entries, Bytes(manifest.Entries)),
            (Section.Strings, manifest.Strings),
            (Section.Xattrs, Bytes(manifest.Xattrs)),
            (Section.ChunkRefs, Bytes(manifest.ChunkRefs)),
            (Section.Chunks, Bytes(manifest.Chunks)),
            (Section.Packs, Bytes(manifest.Packs)),
            (Section.Frames, Bytes(manifest.Frames)),
            (Section.Locations, Bytes(manifest.Locations)),
        };
        if (manifest.Sources is not null)
        {
            sections.Add((Section.Sources, Bytes(manifest.Sources)));
        }

        manifest.TreeHash = ComputeTreeHash(sections.Where(s => IsIdentity(s.Id)).Select(s => (s.Id, (ReadOnlyMemory<byte>)s.Raw)));
        var compressed = sections.Select(s => ZstdFrames.Compress(s.Raw, compressionLevel)).ToArray();

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
            output.WriteUInt64((ulong)sections[i].Raw.Length);
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
        var raw = new Dictionary<Section, byte[]>();
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

            var body = data.Slice((int)offset, (int)stored);
            var bytes = encoding == 1 ? ZstdFrames.Decompress(body, (int)length, what) : body.ToArray();
            if (bytes.Length != (int)length)
            {
                throw new CorruptDataException($"{what}: section {(uint)id} has the wrong length");
            }

            if (!raw.TryAdd(id, bytes))
            {
                throw new CorruptDataException($"{what}: section {(uint)id} appears twice");
            }
        }

        var manifest = new Manifest(
            Records<EntryRecord>(raw, Section.Entries, what, required: true),
            raw.GetValueOrDefault(Section.Strings) ?? [],
            Records<XattrRecord>(raw, Section.Xattrs, what, required: true),
            Records<ChunkRef>(raw, Section.ChunkRefs, what, required: true),
            Records<ChunkRecord>(raw, Section.Chunks, what, required: true),
            Records<ContentId>(raw, Section.Packs, what, required: true),
            Records<FrameRecord>(raw, Section.Frames, what, required: true),
            Records<ChunkLocation>(raw, Section.Locations, what, required: true),
            raw.ContainsKey(Section.Sources) ? Records<SourceRecord>(raw, Section.Sources, what, required: true) : null);
        manifest.TreeHash = ComputeTreeHash(raw.Where(kv => IsIdentity(kv.Key)).Select(kv => (kv.Key, (ReadOnlyMemory<byte>)kv.Value)));
        ManifestValidator.Validate(manifest, what);
        return manifest;
    }

    private static bool IsIdentity(Section id) => (uint)id < 16;

    private static ContentId ComputeTreeHash(IEnumerable<(Section Id, ReadOnlyMemory<byte> Raw)> sections)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(TreeHashDomain);
        Span<byte> header = stackalloc byte[12];
        foreach (var (id, bytes) in sections.OrderBy(s => s.Id))
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)id);
            BinaryPrimitives.WriteUInt64LittleEndian(header[4..], (ulong)bytes.Length);
            hash.AppendData(header);
            hash.AppendData(bytes.Span);
        }

        return new ContentId(hash.GetHashAndReset());
    }

    private static byte[] Bytes<T>(T[] records)
        where T : unmanaged => MemoryMarshal.AsBytes(records.AsSpan()).ToArray();

    private static T[] Records<T>(Dictionary<Section, byte[]> raw, Section id, string what, bool required)
        where T : unmanaged
    {
        if (!raw.TryGetValue(id, out var bytes))
        {
            if (required)
            {
                throw new CorruptDataException($"{what}: section {id} is missing");
            }

            return [];
        }

        var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (bytes.Length % size != 0)
        {
            throw new CorruptDataException($"{what}: section {id} is not a whole number of {size}-byte records");
        }

        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }

    private static void CheckPlatform()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Cairn's formats are little-endian; big-endian machines are not supported");
        }
    }
}
