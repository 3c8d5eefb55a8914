using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Cairn.Format;
using Cairn.Native.Hashing;

namespace Cairn.Manifests;

/// <summary>
/// Encodes and decodes the manifest object (docs/format.md, "Manifest"): a header, a section table, sections of
/// fixed-size little-endian records (each a zstd frame, or raw where zstd gains little), and a SHA-256 of everything
/// before it. Decoding validates every
/// index, range, name and ordering rule, so restore and mount can trust what they get.
/// </summary>
public static partial class ManifestCodec
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
        SegmentSizes = 33,
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

        if (manifest.SegmentSizes is not null)
        {
            sections.Add(SectionData.Of(Section.SegmentSizes, manifest.SegmentSizes));
        }

        manifest.TreeHash = TreeHasher.Of([.. sections]);

        // A section zstd barely shrinks is stored as it is (null here): decompressing it would cost about as much per
        // byte as any other (CHUNKS, mostly SHA-256 ids: 2.3 ms for the 1.5 MB of `ws`, which zstd shrank by 1.5 %),
        // for nothing.
        var compressed = sections.Select(s =>
        {
            var frame = ZstdFrames.Compress(s.Bytes, compressionLevel);
            return frame.Length > s.ByteLength - (s.ByteLength / MinCompressionGain) ? null : frame;
        }).ToArray();
        long Stored(int i) => compressed[i]?.Length ?? sections[i].ByteLength;

        var output = new BinaryBuilder(HeaderSize + (sections.Count * SectionEntrySize) + (int)Enumerable.Range(0, sections.Count).Sum(Stored) + TrailerSize);
        output.Write(Magic);
        output.WriteUInt32(Version);
        output.WriteUInt32((uint)sections.Count);
        long offset = HeaderSize + (sections.Count * SectionEntrySize);
        for (var i = 0; i < sections.Count; i++)
        {
            output.WriteUInt32((uint)sections[i].Id);
            output.WriteUInt32(compressed[i] is null ? 0u : 1u); // encoding: raw or zstd
            output.WriteUInt64((ulong)offset);
            output.WriteUInt64((ulong)Stored(i));
            output.WriteUInt64((ulong)sections[i].ByteLength);
            offset += Stored(i);
        }

        for (var i = 0; i < sections.Count; i++)
        {
            output.Write(compressed[i] is { } frame ? frame : sections[i].Bytes);
        }

        Span<byte> digest = stackalloc byte[32];
        Sha256.HashData(output.WrittenSpan, digest);
        output.Write(digest);
        return output.ToArray();
    }

    /// <summary>Decodes and validates a manifest. <paramref name="what"/> names it in errors (e.g. the object key).</summary>
    /// <remarks>
    /// A large manifest is decoded on all cores: its sections are independent (zstd frames or raw), decoded side by
    /// side with the checksum of the whole; the tree hash follows the decompression section by section
    /// (<see cref="TreeHasher"/>), and the validation runs beside the last of it. Loading the manifest is most of what
    /// `cairn mount` does before it answers. Errors come out as they would one at a time: a checksum mismatch before anything
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
        var decode = Enumerable.Range(0, table.Length).Where(i => sources || table[i].Id != Section.Sources).ToArray();
        var treeHasher = new TreeHasher(sections, [.. table.Select(t => t.Id)]);
        using var decoded = new CountdownEvent(decode.Length);
        var checksumMatches = false;
        Manifest? manifest = null;

        // The jobs: decode section i (0 .. table.Length - 1), the checksum, the validation. They run longest first,
        // so that the cores finish together: the largest section, the checksum beside it, the other sections by size,
        // and last the validation, which waits for the last section to be decoded but not for the tree hash, whose
        // remainder it runs beside.
        var checksumJob = table.Length;
        var validateJob = table.Length + 1;
        var bySize = decode.OrderByDescending(i => table[i].Length).ToArray();
        int[] jobs = [.. bySize.Take(1), checksumJob, .. bySize.Skip(1), validateJob];
        var thrown = RunAll(parallel, jobs, table.Length + 2, job =>
        {
            if (job == checksumJob)
            {
                checksumMatches = ChecksumMatches(data.Span);
            }
            else if (job == validateJob)
            {
                decoded.Wait();
                if (tableError is null && decode.All(i => sections[i].Records is not null))
                {
                    manifest = Build(sections, what);
                    ManifestValidator.Validate(manifest, what);
                }
            }
            else
            {
                try
                {
                    sections[job] = Read(table[job], data.Span.Slice((int)table[job].Offset, (int)table[job].Stored), what);
                }
                finally
                {
                    decoded.Signal(); // before the hashing below: the validation waits for the sections, not the hash
                }

                treeHasher.Decoded(job);
            }
        });

        ThrowIfAny(thrown.AsSpan(checksumJob, 1)); // the checksum could not be computed at all
        if (!checksumMatches)
        {
            throw new CorruptDataException($"{what} is corrupt (manifest checksum mismatch)");
        }

        // The first bad row in table order, whether its contents or the row itself are bad: what a decode of one
        // row after the other reports. Then what the records say.
        ThrowIfAny(thrown.AsSpan(0, table.Length));
        if (tableError is not null)
        {
            throw tableError;
        }

        ThrowIfAny(thrown.AsSpan(validateJob, 1));
        manifest!.TreeHash = treeHasher.Finish(); // hashed beside the decompression: at most a remainder is left
        return manifest;
    }

    private static Manifest Build(SectionData[] sections, string what)
    {
        var list = sections.Where(s => s.Records is not null).ToList();
        var frames = Records<FrameRecord>(list, Section.Frames, what, required: true);
        var segmentSizes = list.Exists(s => s.Id == Section.SegmentSizes) ? Records<uint>(list, Section.SegmentSizes, what, required: true) : null;
        return new Manifest(
            Records<EntryRecord>(list, Section.Entries, what, required: true),
            Records<byte>(list, Section.Strings, what, required: false),
            Records<XattrRecord>(list, Section.Xattrs, what, required: true),
            Records<ChunkRef>(list, Section.ChunkRefs, what, required: true),
            Records<ChunkRecord>(list, Section.Chunks, what, required: true),
            Records<ContentId>(list, Section.Packs, what, required: true),
            frames,
            Records<ChunkLocation>(list, Section.Locations, what, required: true),
            list.Exists(s => s.Id == Section.Sources) ? Records<SourceRecord>(list, Section.Sources, what, required: true) : null,
            segmentSizes is not null && ManifestValidator.SegmentSizesAreValid(segmentSizes, frames.Length) ? segmentSizes : null);
    }

    /// <summary>A section is stored compressed only if zstd saves at least 1/this of its bytes.</summary>
    private const int MinCompressionGain = 16;

    /// <summary>Below this many raw bytes in all, a manifest decodes on one thread: handing work out would cost more.</summary>
    private const long ParallelDecodeBytes = 1 << 20;

    /// <summary>
    /// Runs <paramref name="body"/> for each of <paramref name="jobs"/> (numbers below <paramref name="count"/>), in
    /// that order on one thread, or on all cores if <paramref name="parallel"/>: the caller and one pool thread per
    /// other core each take the next job as they finish one, so the longest should come first. Returns what each job
    /// threw (null where it returned), by job number, so the caller picks which error to report.
    /// </summary>
    private static Exception?[] RunAll(bool parallel, int[] jobs, int count, Action<int> body)
    {
        var thrown = new Exception?[count];
        var next = -1;
        void Work()
        {
            for (int k; (k = Interlocked.Increment(ref next)) < jobs.Length;)
            {
                try
                {
                    body(jobs[k]);
                }
#pragma warning disable CA1031 // Kept, and rethrown by the caller in the order a one-thread decode would meet them.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    thrown[jobs[k]] = e;
                }
            }
        }

        var helpers = new Task[parallel ? Math.Min(Environment.ProcessorCount, jobs.Length) - 1 : 0];
        for (var h = 0; h < helpers.Length; h++)
        {
            helpers[h] = Task.Run(Work);
        }

        Work();
        Task.WaitAll(helpers);
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
        Section.SegmentSizes => Read<uint>(entry.Id, body, entry.Compressed, entry.Length, what),
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
