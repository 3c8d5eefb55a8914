using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Cairn.Manifests;
using Cairn.Native.Linux;

namespace Cairn.Tests.Format;

/// <summary>The manifest encoding is pinned (a change to it is a format change) and decodes back to every field.</summary>
public sealed class ManifestCodecTests
{
    /// <summary>Hashes only the identity sections' raw bytes: independent of the zstd version.</summary>
    private const string SampleTreeHash = "446da4dd81c4b1b8fd95bdb9f90621b0890edc3c6a679e2b5d2f073156b85e1e";

    /// <summary>Depends on zstd's output for the small sections too: a zstd upgrade may move it (then re-pin, knowingly).</summary>
    private const int SampleEncodedLength = 768;

    [Fact]
    public void Record_sizes_are_the_documented_ones()
    {
        Assert.Equal(56, Unsafe.SizeOf<EntryRecord>());
        Assert.Equal(12, Unsafe.SizeOf<ChunkRef>());
        Assert.Equal(36, Unsafe.SizeOf<ChunkRecord>());
        Assert.Equal(16, Unsafe.SizeOf<XattrRecord>());
        Assert.Equal(8, Unsafe.SizeOf<ChunkLocation>());
        Assert.Equal(24, Unsafe.SizeOf<FrameRecord>());
        Assert.Equal(24, Unsafe.SizeOf<SourceRecord>());
    }

    [Fact]
    public void The_encoding_of_a_hand_built_manifest_is_pinned()
    {
        var manifest = SampleManifest.Build();

        var bytes = ManifestCodec.Encode(manifest);

        Assert.Equal(SampleTreeHash, manifest.TreeHash.ToString());
        Assert.Equal(SampleEncodedLength, bytes.Length);
        Assert.Equal("CAIRNMAN"u8.ToArray(), bytes[..8]);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(10u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12)));
        // Encoding 1 (zstd) where it saves at least 1/16 of the bytes, else 0 (raw): tiny sections, and the ids.
        (uint Id, uint Encoding, ulong RawLength)[] expectedSections =
        [
            (1, 1, 7 * 56), (2, 0, (ulong)SampleManifest.Parts().StringsLength), (3, 0, 16), (4, 0, 2 * 12), (5, 0, 2 * 36), (16, 0, 32), (17, 0, 24),
            (18, 0, 2 * 8), (32, 1, 7 * 24), (33, 0, 4),
        ];
        var offset = 16 + (10 * 32);
        for (var i = 0; i < expectedSections.Length; i++)
        {
            var entry = bytes.AsSpan(16 + (i * 32), 32);
            Assert.Equal(expectedSections[i].Id, BinaryPrimitives.ReadUInt32LittleEndian(entry));
            Assert.Equal(expectedSections[i].Encoding, BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]));
            Assert.Equal((ulong)offset, BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]));
            Assert.Equal(expectedSections[i].RawLength, BinaryPrimitives.ReadUInt64LittleEndian(entry[24..]));
            offset += (int)BinaryPrimitives.ReadUInt64LittleEndian(entry[16..]);
        }

        Assert.Equal(bytes.Length - 32, offset);
        Assert.Equal(SHA256.HashData(bytes.AsSpan(0, offset)), bytes[offset..]);
    }

    /// <summary>Small manifests decode on one thread; large ones (here padded with 1.5 MiB of strings) on all cores.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Decoding_gives_back_every_field(bool large)
    {
        var original = Sample(large).ToManifest();

        var decoded = ManifestCodec.Decode(ManifestCodec.Encode(original), "sample");

        Assert.Equal(original.TreeHash, decoded.TreeHash);
        Assert.Equal(original.Entries, decoded.Entries);
        Assert.Equal(original.Strings, decoded.Strings);
        Assert.Equal(original.Xattrs, decoded.Xattrs);
        Assert.Equal(original.ChunkRefs, decoded.ChunkRefs);
        Assert.Equal(original.Chunks, decoded.Chunks);
        Assert.Equal(original.Packs, decoded.Packs);
        Assert.Equal(original.Frames, decoded.Frames);
        Assert.Equal(original.Locations, decoded.Locations);
        Assert.Equal(original.Sources, decoded.Sources);
        Assert.Equal(original.SegmentSizes, decoded.SegmentSizes);

        // And what the accessors make of them.
        Assert.Equal(1, decoded.Resolve("a"u8));
        Assert.Equal(6, decoded.Resolve("d/n"u8));
        Assert.Equal(-1, decoded.Resolve("d/x"u8));
        Assert.Equal("d/f", decoded.DisplayPath(5));
        Assert.Equal(1, decoded.Canonical(3));
        Assert.Equal("a"u8.ToArray(), decoded.SymlinkTarget(4).ToArray());
        Assert.Equal(DeviceNumber.Make(1, 3), decoded.Entries[6].DeviceNumber);
        var xattr = decoded.XattrsOf(1)[0];
        Assert.Equal("user.k=v", $"{Manifest.Display(decoded.StringAt(xattr.NameOffset, xattr.NameLength))}={Manifest.Display(decoded.StringAt(xattr.ValueOffset, xattr.ValueLength))}");
        Assert.Equal([0L, 200L], decoded.ChunkRefsOf(1).ToArray().Select(r => r.Offset));
    }

    [Fact]
    public void A_manifest_without_sources_decodes_with_none()
    {
        var parts = SampleManifest.Parts();
        parts.Sources = null;

        var decoded = ManifestCodec.Decode(ManifestCodec.Encode(parts.ToManifest()), "sample");

        var withSources = SampleManifest.Build();
        ManifestCodec.Encode(withSources);
        Assert.Null(decoded.Sources);
        Assert.Equal(withSources.TreeHash, decoded.TreeHash);
    }

    /// <summary>
    /// A manifest an older Cairn wrote has no SEGMENTSIZES: it decodes with none, every frame's segment size unknown, and
    /// the same tree hash (the section is advisory). Where it is present, unknown is a value of its own.
    /// </summary>
    [Fact]
    public void A_manifest_without_segment_sizes_decodes_with_every_frame_unknown()
    {
        var parts = SampleManifest.Parts();
        parts.SegmentSizes = null;
        var unknown = SampleManifest.Parts();
        unknown.SegmentSizes = [Manifest.UnknownSegmentSize];

        var older = ManifestCodec.Decode(ManifestCodec.Encode(parts.ToManifest()), "sample");
        var withUnknown = ManifestCodec.Decode(ManifestCodec.Encode(unknown.ToManifest()), "sample");
        var known = ManifestCodec.Decode(ManifestCodec.Encode(SampleManifest.Build()), "sample");

        Assert.Null(older.SegmentSizes);
        Assert.Equal(-1, older.KnownSegmentSize(0));
        Assert.Equal(-1, withUnknown.KnownSegmentSize(0));
        Assert.Equal(128 << 10, known.KnownSegmentSize(0));
        Assert.Equal(known.TreeHash, older.TreeHash);
    }

    /// <summary>
    /// A SEGMENTSIZES section that cannot be right (not one value per frame, or a size no frame's table can declare) is
    /// dropped, not the manifest: the section is advisory, and the snapshot must stay restorable.
    /// </summary>
    [Theory]
    [InlineData(new uint[] { 0, 0 })]
    [InlineData(new uint[] { 6144 })]
    [InlineData(new uint[] { 128u << 20 })]
    public void A_segment_size_section_that_cannot_be_right_is_dropped_and_the_manifest_read(uint[] sizes)
    {
        var parts = SampleManifest.Parts();
        parts.SegmentSizes = sizes;

        var decoded = ManifestCodec.Decode(ManifestCodec.Encode(parts.ToManifest()), "sample");

        Assert.Null(decoded.SegmentSizes);
        Assert.Equal(-1, decoded.KnownSegmentSize(0));
        Assert.Equal(SampleManifest.Build().Entries, decoded.Entries);
    }

    [Fact]
    public void The_tree_hash_covers_the_tree_but_not_where_its_chunks_are_stored()
    {
        var moved = SampleManifest.Parts();
        moved.Frames[0].Offset = 4096;
        moved.Frames[0].Checksum = 7;
        moved.Sources![0].CTimeNs = 42;
        var touched = SampleManifest.Parts();
        touched.Entries[1].MTimeNs++;
        var baseline = SampleManifest.Build();
        ManifestCodec.Encode(baseline);

        var movedManifest = moved.ToManifest();
        ManifestCodec.Encode(movedManifest);
        var touchedManifest = touched.ToManifest();
        ManifestCodec.Encode(touchedManifest);

        Assert.Equal(baseline.TreeHash, movedManifest.TreeHash);
        Assert.NotEqual(baseline.TreeHash, touchedManifest.TreeHash);
    }

    [Fact]
    public void Sections_stored_uncompressed_decode_as_compressed_ones_do()
    {
        var original = SampleManifest.Build();
        var bytes = ManifestCodec.Encode(original);
        var stored = Rebuild(bytes, Sections(bytes).Select(s => (s.Id, Encoding: 0u, Body: s.Raw, s.Raw.Length)));

        var decoded = ManifestCodec.Decode(stored, "m");

        Assert.Equal(original.TreeHash, decoded.TreeHash);
        Assert.Equal(original.Entries, decoded.Entries);
        Assert.Equal(original.Strings, decoded.Strings);
        Assert.Equal(original.Chunks, decoded.Chunks);
        Assert.Equal(original.Locations, decoded.Locations);
    }

    [Fact]
    public void A_section_this_reader_does_not_know_is_read_past_and_hashed_only_if_it_is_an_identity_section()
    {
        var original = SampleManifest.Build();
        var bytes = ManifestCodec.Encode(original);
        byte[] extra = [.. Enumerable.Range(0, 1000).Select(i => (byte)(i * 7))];
        (uint, uint, byte[], int) Extra(uint id) => (id, 1u, Cairn.Format.ZstdFrames.Compress(extra, 3), extra.Length);
        var known = Sections(bytes).Select(s => (s.Id, s.Encoding, s.Body, s.Raw.Length)).ToList();

        var advisory = ManifestCodec.Decode(Rebuild(bytes, [.. known, Extra(40)]), "m");
        var identity = ManifestCodec.Decode(Rebuild(bytes, [.. known, Extra(9)]), "m");

        Assert.Equal(original.TreeHash, advisory.TreeHash);
        Assert.Equal(original.Entries, advisory.Entries);
        Assert.NotEqual(original.TreeHash, identity.TreeHash);
        Assert.Equal(original.Entries, identity.Entries);
    }

    /// <summary>
    /// The tree hash is taken in section id order whatever order the table lists the sections in, and on all cores
    /// whichever section is decoded first (the large manifest: 1.5 MiB of strings puts it on the parallel path).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Sections_in_any_table_order_give_the_same_tree_hash(bool large)
    {
        var original = Sample(large).ToManifest();
        var bytes = ManifestCodec.Encode(original);
        var sections = Sections(bytes).Select(s => (s.Id, s.Encoding, s.Body, s.Raw.Length)).ToList();
        var random = new Random(5);

        for (var round = 0; round < 20; round++)
        {
            var order = round == 0 ? Enumerable.Reverse(sections).ToList() : [.. sections.OrderBy(_ => random.Next())];

            var decoded = ManifestCodec.Decode(Rebuild(bytes, order), "m");

            Assert.Equal(original.TreeHash, decoded.TreeHash);
            Assert.Equal(original.Strings, decoded.Strings);
        }
    }

    /// <summary>The sample manifest's parts; <paramref name="large"/> adds 1.5 MiB of strings, which puts its decode on all cores.</summary>
    private static SampleManifest Sample(bool large)
    {
        var parts = SampleManifest.Parts();
        if (large)
        {
            parts.Add(new byte[3 << 19]);
        }

        return parts;
    }

    /// <summary>The sections of an encoded manifest: id, encoding, stored body and raw bytes (docs/format.md, "Manifest").</summary>
    private static List<(uint Id, uint Encoding, byte[] Body, byte[] Raw)> Sections(byte[] manifest)
    {
        var count = BinaryPrimitives.ReadInt32LittleEndian(manifest.AsSpan(12));
        var sections = new List<(uint, uint, byte[], byte[])>();
        for (var i = 0; i < count; i++)
        {
            var entry = manifest.AsSpan(16 + (i * 32), 32);
            var offset = (int)BinaryPrimitives.ReadUInt64LittleEndian(entry[8..]);
            var stored = (int)BinaryPrimitives.ReadUInt64LittleEndian(entry[16..]);
            var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(entry[24..]);
            var body = manifest.AsSpan(offset, stored).ToArray();
            var encoding = BinaryPrimitives.ReadUInt32LittleEndian(entry[4..]);
            var raw = encoding == 0 ? body : Cairn.Format.ZstdFrames.Decompress(body, length, "m");
            sections.Add((BinaryPrimitives.ReadUInt32LittleEndian(entry), encoding, body, raw));
        }

        return sections;
    }

    /// <summary>A manifest made of these sections (id, encoding, stored body, raw length), with its checksum.</summary>
    private static byte[] Rebuild(byte[] original, IEnumerable<(uint Id, uint Encoding, byte[] Body, int Length)> sections)
    {
        var list = sections.ToList();
        var output = new Cairn.Format.BinaryBuilder();
        output.Write(original.AsSpan(0, 12)); // magic and version
        output.WriteUInt32((uint)list.Count);
        long offset = 16 + (list.Count * 32);
        foreach (var (id, encoding, body, length) in list)
        {
            output.WriteUInt32(id);
            output.WriteUInt32(encoding);
            output.WriteUInt64((ulong)offset);
            output.WriteUInt64((ulong)body.Length);
            output.WriteUInt64((ulong)length);
            offset += body.Length;
        }

        foreach (var (_, _, body, _) in list)
        {
            output.Write(body);
        }

        output.Write(SHA256.HashData(output.WrittenSpan));
        return output.ToArray();
    }
}
