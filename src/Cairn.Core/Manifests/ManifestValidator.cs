using Cairn.Native.Linux;

namespace Cairn.Manifests;

/// <summary>
/// Checks every structural rule of a decoded manifest (docs/format.md, "Validation"). After it passes, every index is
/// in range, the entries form a tree rooted at 0 with no cycles, names are single path components, and chunk
/// references stay inside their files — so no later code can be steered outside a restore target or an array.
/// </summary>
internal static class ManifestValidator
{
    private const int MaxSymlinkLength = 4096;

    public static void Validate(Manifest m, string what)
    {
        var entries = m.Entries;
        if (entries.Length == 0 || entries[0].Kind != EntryKind.Directory || entries[0].NameLength != 0)
        {
            throw Fail(what, "the root entry is not a directory");
        }

        var parentCount = new byte[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            ref readonly var e = ref entries[i];
            if ((ulong)e.NameOffset + e.NameLength > (ulong)m.Strings.Length || e.Mode > 0xFFF || (ulong)e.XattrStart + e.XattrCount > (ulong)m.Xattrs.Length)
            {
                throw Fail(what, $"entry {i} is out of bounds");
            }

            if (i > 0 && !IsValidName(m.NameOf(i)))
            {
                throw Fail(what, $"entry {i} has an invalid name '{Manifest.Display(m.NameOf(i))}' (empty, '.', '..', or containing '/' or NUL)");
            }

            switch (e.Kind)
            {
                case EntryKind.Directory:
                    ValidateDirectory(m, i, parentCount, what);
                    break;
                case EntryKind.Regular:
                    ValidateFile(m, i, what);
                    break;
                case EntryKind.Symlink:
                    if (e.Size <= 0 || e.Size > MaxSymlinkLength || (ulong)e.First + (ulong)e.Size > (ulong)m.Strings.Length)
                    {
                        throw Fail(what, $"symlink entry {i} has an invalid target");
                    }

                    break;
                case EntryKind.Hardlink:
                    if (e.First >= (uint)entries.Length || entries[e.First].Kind != EntryKind.Regular)
                    {
                        throw Fail(what, $"hardlink entry {i} does not name a regular file");
                    }

                    break;
                case EntryKind.Fifo or EntryKind.CharDevice or EntryKind.BlockDevice:
                    break;
                default:
                    throw Fail(what, $"entry {i} has unknown kind {(byte)e.Kind}");
            }

            if (i > 0 && parentCount[i] != 1)
            {
                throw Fail(what, $"entry {i} is not reached from the root exactly once");
            }
        }

        ValidateXattrs(m, what);
        ValidateLocations(m, what);
        if (m.Sources is not null && m.Sources.Length != entries.Length)
        {
            throw Fail(what, "the SOURCES section does not match the entries");
        }

    }

    /// <summary>A single path component Linux accepts: what every manifest name must be.</summary>
    public static bool IsValidName(ReadOnlySpan<byte> name) => name.Length <= 255 && PathBytes.IsValidName(name);

    private static void ValidateDirectory(Manifest m, int i, byte[] parentCount, string what)
    {
        ref readonly var e = ref m.Entries[i];
        // Every child comes after its parent: with the exactly-one-parent check this rules out cycles.
        if (e.Count > 0 && (e.First <= (uint)i || (ulong)e.First + e.Count > (ulong)m.Entries.Length))
        {
            throw Fail(what, $"directory entry {i} has children out of range");
        }

        for (var c = e.First; c < e.First + e.Count; c++)
        {
            if (++parentCount[c] > 1)
            {
                throw Fail(what, $"entry {c} has more than one parent");
            }

            if (c > e.First && m.NameOf((int)c - 1).SequenceCompareTo(m.NameOf((int)c)) >= 0)
            {
                throw Fail(what, $"directory entry {i} has unsorted or duplicate names");
            }
        }
    }

    private static void ValidateFile(Manifest m, int i, string what)
    {
        ref readonly var e = ref m.Entries[i];
        if (e.Size < 0 || (ulong)e.First + e.Count > (ulong)m.ChunkRefs.Length)
        {
            throw Fail(what, $"file entry {i} has chunk references out of range");
        }

        long end = 0;
        foreach (var r in m.ChunkRefs.AsSpan((int)e.First, (int)e.Count))
        {
            if (r.Chunk >= (uint)m.Chunks.Length || r.Offset < end)
            {
                throw Fail(what, $"file entry {i} has overlapping or invalid chunk references");
            }

            end = r.Offset + m.Chunks[r.Chunk].Length;
            if (end > e.Size)
            {
                throw Fail(what, $"file entry {i} has data past its size");
            }
        }
    }

    private static void ValidateXattrs(Manifest m, string what)
    {
        foreach (var x in m.Xattrs)
        {
            if ((ulong)x.NameOffset + x.NameLength > (ulong)m.Strings.Length || (ulong)x.ValueOffset + x.ValueLength > (ulong)m.Strings.Length || x.NameLength == 0)
            {
                throw Fail(what, "an extended attribute is out of bounds");
            }
        }
    }

    /// <summary>
    /// Whether a SEGMENTSIZES section can be taken: one value per frame, each 0, unknown, or a segment size a frame's
    /// table could declare. The section is advisory (a frame's own table decides how it decodes), so a manifest whose
    /// section fails this is read without it (every frame unknown) rather than refused: its snapshot stays restorable.
    /// </summary>
    public static bool SegmentSizesAreValid(uint[] sizes, int frames)
    {
        if (sizes.Length != frames)
        {
            return false;
        }

        foreach (var size in sizes)
        {
            if (size != 0 && size != Manifest.UnknownSegmentSize && (size % Format.FrameSegments.MinSegmentSize != 0 || size > ManifestCodec.MaxFrameLength))
            {
                return false;
            }
        }

        return true;
    }

    private static void ValidateLocations(Manifest m, string what)
    {
        if (m.Locations.Length != m.Chunks.Length)
        {
            throw Fail(what, "the LOCATIONS section does not match the chunk table");
        }

        foreach (var f in m.Frames)
        {
            if (f.Pack >= (uint)m.Packs.Length || f.Offset < Format.PackFormat.HeaderSize || f.CompressedLength == 0 || f.UncompressedLength > ManifestCodec.MaxFrameLength || f.CompressedLength > ManifestCodec.MaxFrameLength + 65536)
            {
                throw Fail(what, "a frame is out of bounds");
            }
        }

        for (var c = 0; c < m.Chunks.Length; c++)
        {
            var loc = m.Locations[c];
            if (loc.Frame >= (uint)m.Frames.Length || (ulong)loc.OffsetInFrame + m.Chunks[c].Length > m.Frames[loc.Frame].UncompressedLength)
            {
                throw Fail(what, $"chunk {c} lies outside its frame");
            }
        }
    }

    private static CorruptDataException Fail(string what, string why) => new($"{what} is invalid: {why}");
}
