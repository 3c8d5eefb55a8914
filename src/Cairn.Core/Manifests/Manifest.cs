using Cairn.Format;
using Cairn.Native.Linux;

namespace Cairn.Manifests;

/// <summary>
/// A snapshot's whole tree and the location of every chunk it uses, held as flat arrays: loading one costs a few
/// decompressions and no per-entry objects, and an entry index serves directly as an inode number for mounts.
/// Build one with <see cref="ManifestBuilder"/>; encode and decode with <see cref="ManifestCodec"/>, which validates
/// everything a hostile manifest could get wrong before any other code sees it.
/// </summary>
public sealed class Manifest
{
    private int[]? _parents;

    internal Manifest(
        EntryRecord[] entries,
        byte[] strings,
        XattrRecord[] xattrs,
        ChunkRef[] chunkRefs,
        ChunkRecord[] chunks,
        ContentId[] packs,
        FrameRecord[] frames,
        ChunkLocation[] locations,
        SourceRecord[]? sources,
        uint[]? segmentSizes = null)
    {
        Entries = entries;
        Strings = strings;
        Xattrs = xattrs;
        ChunkRefs = chunkRefs;
        Chunks = chunks;
        Packs = packs;
        Frames = frames;
        Locations = locations;
        Sources = sources;
        SegmentSizes = segmentSizes;
    }

    public EntryRecord[] Entries { get; }

    public byte[] Strings { get; }

    public XattrRecord[] Xattrs { get; }

    public ChunkRef[] ChunkRefs { get; }

    public ChunkRecord[] Chunks { get; }

    public ContentId[] Packs { get; }

    public FrameRecord[] Frames { get; }

    public ChunkLocation[] Locations { get; }

    public SourceRecord[]? Sources { get; }

    /// <summary>
    /// The SEGMENTSIZES section: per frame, the segment size its writer knew it to have (0: not segmented;
    /// <see cref="UnknownSegmentSize"/>: not known to the writer). Null in manifests written before it existed, and where
    /// the section cannot be right (<see cref="ManifestValidator.SegmentSizesAreValid"/>: dropped, not the manifest). Advisory:
    /// the frame's own table is what a reader decodes by (<see cref="Format.FrameSegments"/>); this saves a writer or
    /// an inspection the ranged read of the frame's head. Read with <see cref="KnownSegmentSize"/>.
    /// </summary>
    public uint[]? SegmentSizes { get; }

    /// <summary>The SEGMENTSIZES value of a frame whose segment size its writer did not know.</summary>
    public const uint UnknownSegmentSize = uint.MaxValue;

    /// <summary>The segment size of <paramref name="frame"/> as the manifest records it (0: not segmented), or -1 if it does not.</summary>
    public int KnownSegmentSize(int frame) =>
        SegmentSizes is { } sizes && sizes[frame] != UnknownSegmentSize ? (int)sizes[frame] : -1;

    /// <summary>The identity of the tree: SHA-256 over the identity sections (docs/format.md). Set by the codec.</summary>
    public ContentId TreeHash { get; internal set; }

    public int Count => Entries.Length;

    public ReadOnlySpan<byte> NameOf(int entry)
    {
        ref readonly var e = ref Entries[entry];
        return Strings.AsSpan((int)e.NameOffset, e.NameLength);
    }

    public ReadOnlySpan<byte> SymlinkTarget(int entry)
    {
        ref readonly var e = ref Entries[entry];
        return Strings.AsSpan((int)e.First, (int)e.Size);
    }

    /// <summary>The regular files directly in the root directory: an image snapshot's images.</summary>
    public IEnumerable<int> RootFiles()
    {
        var root = Entries[0];
        for (var i = (int)root.First; i < root.First + root.Count; i++)
        {
            if (Entries[i].Kind == EntryKind.Regular)
            {
                yield return i;
            }
        }
    }

    /// <summary>Per frame, the bytes of the manifest's chunks in it: each chunk counts once, however many files use it.</summary>
    public long[] UsedBytesByFrame()
    {
        var used = new long[Frames.Length];
        for (var c = 0; c < Chunks.Length; c++)
        {
            used[Locations[c].Frame] += Chunks[c].Length;
        }

        return used;
    }

    public ReadOnlySpan<ChunkRef> ChunkRefsOf(int entry)
    {
        ref readonly var e = ref Entries[entry];
        return e.Kind == EntryKind.Regular ? ChunkRefs.AsSpan((int)e.First, (int)e.Count) : default;
    }

    public ReadOnlySpan<XattrRecord> XattrsOf(int entry)
    {
        ref readonly var e = ref Entries[entry];
        return Xattrs.AsSpan((int)e.XattrStart, e.XattrCount);
    }

    public ReadOnlySpan<byte> StringAt(uint offset, uint length) => Strings.AsSpan((int)offset, (int)length);

    /// <summary>The entry a hardlink names, or the entry itself.</summary>
    public int Canonical(int entry) => Entries[entry].Kind == EntryKind.Hardlink ? (int)Entries[entry].First : entry;

    /// <summary>The child of <paramref name="directory"/> called <paramref name="name"/>, or -1.</summary>
    public int Lookup(int directory, ReadOnlySpan<byte> name)
    {
        ref readonly var d = ref Entries[directory];
        if (d.Kind != EntryKind.Directory)
        {
            return -1;
        }

        int lo = (int)d.First, hi = (int)(d.First + d.Count) - 1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) >> 1);
            var c = NameOf(mid).SequenceCompareTo(name);
            if (c == 0)
            {
                return mid;
            }

            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return -1;
    }

    /// <summary>Resolves a slash-separated path relative to the root (no symlinks followed), or -1.</summary>
    public int Resolve(ReadOnlySpan<byte> path)
    {
        var current = 0;
        foreach (var range in path.Split((byte)'/'))
        {
            var part = path[range];
            if (part.IsEmpty || part.SequenceEqual("."u8))
            {
                continue;
            }

            current = Lookup(current, part);
            if (current < 0)
            {
                return -1;
            }
        }

        return current;
    }

    /// <summary>The parent of every entry (the root is its own parent), computed once.</summary>
    public int ParentOf(int entry)
    {
        if (_parents is null)
        {
            var parents = new int[Entries.Length];
            for (var i = 0; i < Entries.Length; i++)
            {
                ref readonly var e = ref Entries[i];
                if (e.Kind == EntryKind.Directory)
                {
                    for (var c = e.First; c < e.First + e.Count; c++)
                    {
                        parents[c] = i;
                    }
                }
            }

            _parents = parents;
        }

        return _parents[entry];
    }

    /// <summary>The entry's path relative to the root as raw bytes ("" for the root).</summary>
    public byte[] PathOf(int entry)
    {
        var parts = new List<int>();
        for (var e = entry; e != 0; e = ParentOf(e))
        {
            parts.Add(e);
        }

        var length = parts.Sum(p => Entries[p].NameLength + 1);
        var path = new byte[Math.Max(0, length - 1)];
        var at = 0;
        for (var i = parts.Count - 1; i >= 0; i--)
        {
            NameOf(parts[i]).CopyTo(path.AsSpan(at));
            at += Entries[parts[i]].NameLength;
            if (i > 0)
            {
                path[at++] = (byte)'/';
            }
        }

        return path;
    }

    /// <summary>A path for messages: UTF-8 where valid, invalid bytes escaped as \xNN.</summary>
    public string DisplayPath(int entry) => Display(PathOf(entry));

    public static string Display(ReadOnlySpan<byte> bytes) => PathBytes.Display(bytes);
}
