using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Cairn.Format;
using Cairn.Native.Hashing;

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
        Sha256.HashData(output.WrittenSpan, digest);
        output.Write(digest);
        return output.ToArray();
    }

    /// <summary>Decodes and validates a manifest. <paramref name="what"/> names it in errors (e.g. the object key).</summary>
    /// <remarks>
    /// A large manifest is decoded on all cores: its sections are independent zstd frames, decompressed side by side
    /// with the checksum of the whole, and the tree hash is computed while the records are validated. Loading the
    /// manifest is most of what `cairn mount` does before it answers (the 2.6 MB manifest of `ws`, read included: 19 ms
    /// on one core, 12 ms on two). Errors come out as they would one at a time: a checksum mismatch before anything
    /// else, then the first bad section in table order. Without <paramref name="sources"/> the SOURCES section
    /// (advisory, used only by the next incremental snapshot) is left encoded and <see cref="Manifest.Sources"/> is
    /// null: restores and mounts do not need it, and in `ws` it took 5.7 of the 21 ms its sections took to decompress.
    /// </remarks>
    public static Manifest Decode(ReadOnlyMemory<byte> data, string what, bool sources = true)
    {
        CheckPlatform();
        var bytes = data.Span;
        if (bytes.Length < HeaderSize + TrailerSize || !bytes[..8].SequenceEqual(Magic))
        {
            throw new CorruptDataException($"{what} is not a Cairn manifest");
        }

        SectionEntry[] table;
        CorruptDataException? tableError;
        try
        {
            (table, tableError) = ReadSectionTable(bytes, what);
        }
        catch (CorruptDataException) when (!ChecksumMatches(bytes))
        {
            throw new CorruptDataException($"{what} is corrupt (manifest checksum mismatch)");
        }

        var parallel = Environment.ProcessorCount > 1 && table.Sum(t => (long)t.Length) >= ParallelDecodeBytes;
        var sections = new SectionData[table.Length]; // default (no records) where SOURCES is left encoded
        var checksumMatches = false;
        var thrown = RunAll(parallel, table.Length + 1, i =>
        {
            if (i == table.Length)
            {
                checksumMatches = ChecksumMatches(data.Span);
            }
            else if (sources || table[i].Id != Section.Sources)
            {
                sections[i] = Read(table[i], data.Span.Slice((int)table[i].Offset, (int)table[i].Stored), what);
            }
        });

        ThrowIfAny(thrown.AsSpan(table.Length)); // the checksum could not be computed at all
        if (!checksumMatches)
        {
            throw new CorruptDataException($"{what} is corrupt (manifest checksum mismatch)");
        }

        // The first bad row in table order, whether its contents or the row itself are bad: what a decode of one
        // row after the other reports.
        ThrowIfAny(thrown);
        if (tableError is not null)
        {
            throw tableError;
        }

        var list = sections.Where(s => s.Records is not null).ToList();
        var manifest = new Manifest(
            Records<EntryRecord>(list, Section.Entries, what, required: true),
            Records<byte>(list, Section.Strings, what, required: false),
            Records<XattrRecord>(list, Section.Xattrs, what, required: true),
            Records<ChunkRef>(list, Section.ChunkRefs, what, required: true),
            Records<ChunkRecord>(list, Section.Chunks, what, required: true),
            Records<ContentId>(list, Section.Packs, what, required: true),
            Records<FrameRecord>(list, Section.Frames, what, required: true),
            Records<ChunkLocation>(list, Section.Locations, what, required: true),
            list.Exists(s => s.Id == Section.Sources) ? Records<SourceRecord>(list, Section.Sources, what, required: true) : null);
        ContentId treeHash = default;
        ThrowIfAny(RunAll(parallel, 2, i =>
        {
            if (i == 0)
            {
                treeHash = ComputeTreeHash(list);
            }
            else
            {
                ManifestValidator.Validate(manifest, what);
            }
        }));

        manifest.TreeHash = treeHash;
        return manifest;
    }

    /// <summary>Below this many raw bytes in all, a manifest decodes on one thread: handing work out would cost more.</summary>
    private const long ParallelDecodeBytes = 1 << 20;

    /// <summary>
    /// Runs <paramref name="body"/> for 0 .. <paramref name="count"/> - 1, on all cores if <paramref name="parallel"/>;
    /// returns what each call threw (null where it returned), so the caller picks which error to report.
    /// </summary>
    private static Exception?[] RunAll(bool parallel, int count, Action<int> body)
    {
        var thrown = new Exception?[count];
        void One(int i)
        {
            try
            {
                body(i);
            }
#pragma warning disable CA1031 // Kept, and rethrown by the caller in the order a one-thread decode would meet them.
            catch (Exception e)
#pragma warning restore CA1031
            {
                thrown[i] = e;
            }
        }

        if (parallel)
        {
            Parallel.For(0, count, One);
        }
        else
        {
            for (var i = 0; i < count; i++)
            {
                One(i);
            }
        }

        return thrown;
    }

    /// <summary>Rethrows the first of <paramref name="thrown"/>, as it was thrown.</summary>
    private static void ThrowIfAny(ReadOnlySpan<Exception?> thrown)
    {
        foreach (var e in thrown)
        {
            if (e is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
            }
        }
    }

    private static bool ChecksumMatches(ReadOnlySpan<byte> data)
    {
        Span<byte> digest = stackalloc byte[32];
        Sha256.HashData(data[..^TrailerSize], digest);
        return digest.SequenceEqual(data[^TrailerSize..]);
    }

    /// <summary>One row of the section table, checked against the object's bounds and the rest of the table.</summary>
    private readonly record struct SectionEntry(Section Id, bool Compressed, long Offset, long Stored, int Length);

    /// <summary>
    /// The section table's rows up to the first bad one, and what is wrong with that one (null if none is): the rows
    /// before it are decoded, so that the error reported is that of the first bad row, as it would be row by row.
    /// </summary>
    private static (SectionEntry[] Rows, CorruptDataException? Error) ReadSectionTable(ReadOnlySpan<byte> data, string what)
    {
        var cursor = new BinaryCursor(data[..^TrailerSize], what);
        cursor.ReadBytes(8);
        var version = cursor.ReadUInt32();
        if (version != Version)
        {
            throw new CorruptDataException($"{what} is manifest format version {version}; this Cairn reads version {Version}");
        }

        var count = cursor.ReadInt32Checked(64);
        var rows = new List<SectionEntry>(count);
        try
        {
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

                if (rows.Exists(t => t.Id == id))
                {
                    throw new CorruptDataException($"{what}: section {(uint)id} appears twice");
                }

                rows.Add(new SectionEntry(id, encoding == 1, (long)offset, (long)stored, (int)length));
            }
        }
        catch (CorruptDataException e)
        {
            return ([.. rows], e);
        }

        return ([.. rows], null);
    }

    private static bool IsIdentity(Section id) => (uint)id < 16;

    /// <summary>SHA-256 over the identity sections in id order, each as its id, its length and its bytes.</summary>
    private static ContentId ComputeTreeHash(List<SectionData> sections)
    {
        var hash = default(Sha256Hasher);
        hash.Append(TreeHashDomain);
        Span<byte> header = stackalloc byte[12];
        foreach (var section in sections.Where(s => IsIdentity(s.Id)).OrderBy(s => s.Id))
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)section.Id);
            BinaryPrimitives.WriteUInt64LittleEndian(header[4..], (ulong)section.ByteLength);
            hash.Append(header);
            hash.Append(section.Bytes);
        }

        Span<byte> digest = stackalloc byte[Sha256.HashSizeInBytes];
        hash.GetHashAndReset(digest);
        return new ContentId(digest);
    }

    private static SectionData Read(SectionEntry entry, ReadOnlySpan<byte> body, string what) => entry.Id switch
    {
        Section.Entries => Read<EntryRecord>(entry.Id, body, entry.Compressed, entry.Length, what),
        Section.Xattrs => Read<XattrRecord>(entry.Id, body, entry.Compressed, entry.Length, what),
        Section.ChunkRefs => Read<ChunkRef>(entry.Id, body, entry.Compressed, entry.Length, what),
        Section.Chunks => Read<ChunkRecord>(entry.Id, body, entry.Compressed, entry.Length, what),
        Section.Packs => Read<ContentId>(entry.Id, body, entry.Compressed, entry.Length, what),
        Section.Frames => Read<FrameRecord>(entry.Id, body, entry.Compressed, entry.Length, what),
        Section.Locations => Read<ChunkLocation>(entry.Id, body, entry.Compressed, entry.Length, what),
        Section.Sources => Read<SourceRecord>(entry.Id, body, entry.Compressed, entry.Length, what),
        _ => Read<byte>(entry.Id, body, entry.Compressed, entry.Length, what), // Strings, and sections newer than this reader
    };

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
