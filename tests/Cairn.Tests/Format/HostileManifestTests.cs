using System.Buffers.Binary;
using System.Security.Cryptography;
using Cairn.Manifests;

namespace Cairn.Tests.Format;

/// <summary>
/// A manifest comes from storage someone else may control. Every structural lie must be refused by
/// <see cref="ManifestCodec.Decode"/> with a <see cref="CorruptDataException"/> that names the object and says what is wrong.
/// </summary>
public sealed class HostileManifestTests
{
    private const string What = "manifests/hostile";

    public static TheoryData<string, string> Lies => new()
    {
        { "name ..", "entry 1 has an invalid name '..'" },
        { "name with slash", "entry 1 has an invalid name 'a/b'" },
        { "empty name", "entry 1 has an invalid name ''" },
        { "name of 256 bytes", "has an invalid name" },
        { "cycle", "directory entry 2 has children out of range" },
        { "two parents", "entry 4 has more than one parent" },
        { "orphan", "entry 6 is not reached from the root exactly once" },
        { "unsorted names", "directory entry 0 has unsorted or duplicate names" },
        { "duplicate names", "directory entry 0 has unsorted or duplicate names" },
        { "root not a directory", "the root entry is not a directory" },
        { "unknown kind", "entry 5 has unknown kind 9" },
        { "mode with type bits", "entry 1 is out of bounds" },
        { "chunk ref beyond the chunk table", "file entry 1 has overlapping or invalid chunk references" },
        { "overlapping chunk refs", "file entry 1 has overlapping or invalid chunk references" },
        { "data past the file size", "file entry 1 has data past its size" },
        { "chunk refs beyond the table", "file entry 1 has chunk references out of range" },
        { "hardlink to a directory", "hardlink entry 3 does not name a regular file" },
        { "hardlink to a hardlink", "hardlink entry 3 does not name a regular file" },
        { "symlink target out of bounds", "symlink entry 4 has an invalid target" },
        { "empty symlink target", "symlink entry 4 has an invalid target" },
        { "xattr out of bounds", "an extended attribute is out of bounds" },
        { "frame index out of range", "chunk 1 lies outside its frame" },
        { "chunk past its frame", "chunk 1 lies outside its frame" },
        { "frame in a missing pack", "a frame is out of bounds" },
        { "frame inside the pack header", "a frame is out of bounds" },
        { "locations do not match chunks", "the LOCATIONS section does not match the chunk table" },
        { "sources do not match entries", "the SOURCES section does not match the entries" },
    };

    /// <summary>
    /// Each lie in the small sample and in one large enough to be decoded on all cores, by a full decode and by one
    /// without SOURCES, as restores and mounts read manifests (except the lie in SOURCES, which that one leaves alone).
    /// </summary>
    public static TheoryData<string, string, bool, bool> LieCases()
    {
        var data = new TheoryData<string, string, bool, bool>();
        foreach (var row in Lies)
        {
            var (lie, expected) = ((string)row[0], (string)row[1]);
            foreach (var large in new[] { false, true })
            {
                data.Add(lie, expected, large, true);
                if (lie != "sources do not match entries")
                {
                    data.Add(lie, expected, large, false);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LieCases))]
    public void A_structural_lie_is_refused_with_a_clear_message(string lie, string expected, bool large, bool sources)
    {
        var parts = SampleManifest.Parts();
        if (large)
        {
            Pad(parts);
        }

        Break(parts, lie);
        var bytes = ManifestCodec.Encode(parts.ToManifest());

        var e = Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(bytes, What, sources));

        Assert.StartsWith($"{What} is invalid: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_flipped_byte_fails_the_checksum(bool large)
    {
        var bytes = ManifestCodec.Encode(Sample(large));
        bytes[bytes.Length / 2] ^= 0x10;

        var e = Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(bytes, What));

        Assert.Equal($"{What} is corrupt (manifest checksum mismatch)", e.Message);
    }

    [Fact]
    public void A_truncated_object_is_refused()
    {
        var bytes = ManifestCodec.Encode(SampleManifest.Build());
        var shorter = bytes.AsSpan(0, bytes.Length - 40).ToArray();
        var headerOnly = bytes.AsSpan(0, 20).ToArray();

        Assert.Contains("checksum mismatch", Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(shorter, What)).Message, StringComparison.Ordinal);
        Assert.Equal($"{What} is not a Cairn manifest", Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(headerOnly, What)).Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_truncated_section_is_refused_even_with_a_valid_checksum(bool large)
    {
        var bytes = ManifestCodec.Encode(Sample(large));
        var entries = bytes.AsSpan(16, 32);
        BinaryPrimitives.WriteUInt64LittleEndian(entries[16..], BinaryPrimitives.ReadUInt64LittleEndian(entries[16..]) - 3);
        Rehash(bytes);

        var e = Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(bytes, What));

        Assert.Contains($"{What}: invalid compressed data", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_section_pointing_past_the_object_is_refused_even_with_a_valid_checksum(bool large)
    {
        var bytes = ManifestCodec.Encode(Sample(large));
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16 + 32 + 8), (ulong)bytes.Length);
        Rehash(bytes);

        var e = Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(bytes, What));

        Assert.Equal($"{What}: section 2 is out of bounds", e.Message);
    }

    /// <summary>Two lies, one in a section's contents and one in a later row of the table: the first row's is reported.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Of_two_bad_sections_the_first_in_table_order_is_reported(bool large)
    {
        var bytes = ManifestCodec.Encode(Sample(large));
        ClaimOneMoreEntry(bytes);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16 + (2 * 32) + 8), (ulong)bytes.Length);
        Rehash(bytes);

        var e = Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(bytes, What));

        Assert.Equal($"{What}: section 1 has the wrong length", e.Message);
    }

    [Fact]
    public void A_decode_without_sources_leaves_them_null_and_unchecked()
    {
        var parts = SampleManifest.Parts();
        Break(parts, "sources do not match entries");
        var bytes = ManifestCodec.Encode(parts.ToManifest());

        Assert.Null(ManifestCodec.Decode(bytes, What, sources: false).Sources);
        Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(bytes, What));
    }

    [Fact]
    public void Sections_claiming_gigabytes_each_are_refused_before_anything_is_allocated()
    {
        var bytes = ManifestCodec.Encode(SampleManifest.Build());
        for (var i = 0; i < 4; i++)
        {
            // A raw length just under the 1 GiB limit, a whole number of records of each of the first four sections.
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16 + (i * 32) + 24), (1UL << 30) / 336 * 336);
        }

        Rehash(bytes);

        var e = Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(bytes, What));

        Assert.Contains("has the wrong length", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_section_that_decompresses_to_another_length_is_refused(bool large)
    {
        var bytes = ManifestCodec.Encode(Sample(large));
        ClaimOneMoreEntry(bytes);
        Rehash(bytes);

        Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(bytes, What));
    }

    [Fact]
    public void A_missing_section_or_a_later_version_is_refused()
    {
        var bytes = ManifestCodec.Encode(SampleManifest.Build());
        var withoutChunks = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(withoutChunks.AsSpan(16 + (4 * 32)), 99); // section 5 → an unknown id
        Rehash(withoutChunks);
        var later = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(later.AsSpan(8), 2);
        Rehash(later);

        Assert.Equal($"{What}: section Chunks is missing", Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(withoutChunks, What)).Message);
        Assert.Equal($"{What} is manifest format version 2; this Cairn reads version 1", Assert.Throws<CorruptDataException>(() => ManifestCodec.Decode(later, What)).Message);
    }

    private static void Break(SampleManifest m, string lie)
    {
        switch (lie)
        {
            case "name ..": m.Rename(1, ".."u8.ToArray()); break;
            case "name with slash": m.Rename(1, "a/b"u8.ToArray()); break;
            case "empty name": m.Rename(1, []); break;
            case "name of 256 bytes": m.Rename(1, [.. Enumerable.Repeat((byte)'a', 256)]); break;
            case "cycle": m.Entries[2].First = 0; m.Entries[2].Count = 1; break; // d's child is the root
            case "two parents": m.Entries[2].First = 4; break;                   // l is a child of the root and of d
            case "orphan": m.Entries[2].Count = 1; break;                          // n has no parent
            case "unsorted names": m.Rename(1, "z"u8.ToArray()); break;
            case "duplicate names": m.Rename(1, "d"u8.ToArray()); break;
            case "root not a directory": m.Entries[0].Kind = EntryKind.Regular; break;
            case "unknown kind": m.Entries[5].Kind = (EntryKind)9; break;
            case "mode with type bits": m.Entries[1].Mode = 0x8000 | 0b110_100_100; break;
            case "chunk ref beyond the chunk table": m.ChunkRefs[1].Chunk = 2; break;
            case "overlapping chunk refs": m.ChunkRefs[1].Offset = 50; break;
            case "data past the file size": m.Entries[1].Size = 299; break;
            case "chunk refs beyond the table": m.Entries[1].Count = 3; break;
            case "hardlink to a directory": m.Entries[3].First = 2; break;
            case "hardlink to a hardlink": m.Entries[3].First = 3; break;
            case "symlink target out of bounds": m.Entries[4].First = (uint)m.StringsLength; break;
            case "empty symlink target": m.Entries[4].Size = 0; break;
            case "xattr out of bounds": m.Xattrs[0].ValueOffset = (uint)m.StringsLength; break;
            case "frame index out of range": m.Locations[1].Frame = 3; break;
            case "chunk past its frame": m.Locations[1].OffsetInFrame = 101; break;
            case "frame in a missing pack": m.Frames[0].Pack = 1; break;
            case "frame inside the pack header": m.Frames[0].Offset = 8; break;
            case "locations do not match chunks": m.Locations = m.Locations[..1]; break;
            case "sources do not match entries": m.Sources = m.Sources![..3]; break;
            default: throw new ArgumentOutOfRangeException(nameof(lie), lie, "no such lie");
        }
    }

    /// <summary>The sample manifest, or (<paramref name="large"/>) one padded past the size decoded on all cores.</summary>
    private static Manifest Sample(bool large)
    {
        var parts = SampleManifest.Parts();
        if (large)
        {
            Pad(parts);
        }

        return parts.ToManifest();
    }

    /// <summary>1.5 MiB of unreferenced bytes in STRINGS: the manifest stays valid and decodes on all cores.</summary>
    private static void Pad(SampleManifest parts) => parts.Add(new byte[3 << 19]);

    /// <summary>Makes the ENTRIES row of the table claim one 56-byte entry more than its body holds.</summary>
    private static void ClaimOneMoreEntry(byte[] bytes)
    {
        var entries = bytes.AsSpan(16, 32);
        BinaryPrimitives.WriteUInt64LittleEndian(entries[24..], BinaryPrimitives.ReadUInt64LittleEndian(entries[24..]) + 56);
    }

    /// <summary>Recomputes the trailing SHA-256, as someone forging a manifest would.</summary>
    private static void Rehash(byte[] bytes) => SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32), bytes.AsSpan(bytes.Length - 32));
}
