using System.Buffers;
using System.Runtime.InteropServices;
using Cairn.Format;
using Cairn.Repository;

namespace Cairn.Manifests;

/// <summary>
/// Accumulates a manifest while a tree is walked. Entries are appended in their final order; chunks
/// are kept with the number of the frame they live in (<see cref="ChunkIndex"/> numbering), translated into the
/// manifest's own frame and pack tables by <see cref="Build"/> once every pack is written.
/// </summary>
public sealed class ManifestBuilder
{
    private readonly List<EntryRecord> _entries = [];
    private readonly List<SourceRecord> _sources = [];
    private readonly ArrayBufferWriter<byte> _strings = new(1 << 16);
    private readonly List<XattrRecord> _xattrs = [];
    private readonly List<ChunkRef> _chunkRefs = [];
    private readonly List<ChunkRecord> _chunks = [];
    private readonly List<ChunkSlot> _chunkSlots = [];
    private readonly Dictionary<ContentId, int> _chunkNumbers = [];
    private readonly HashSet<int> _leftOut = [];

    public int EntryCount => _entries.Count;

    public int ChunkRefCount => _chunkRefs.Count;

    public int ChunkCount => _chunks.Count;

    /// <summary>The entry at <paramref name="index"/>, to fill in fields known later (children, chunk refs).</summary>
    public ref EntryRecord Entry(int index) => ref CollectionsMarshal.AsSpan(_entries)[index];

    /// <summary>The source record of an entry, to update once its file has been read.</summary>
    public ref SourceRecord Source(int index) => ref CollectionsMarshal.AsSpan(_sources)[index];

    public ReadOnlySpan<byte> NameOf(int index)
    {
        var e = _entries[index];
        return _strings.WrittenSpan.Slice((int)e.NameOffset, e.NameLength);
    }

    public int AddEntry(EntryRecord entry, ReadOnlySpan<byte> name, SourceRecord source)
    {
        entry.NameOffset = AddString(name);
        entry.NameLength = checked((ushort)name.Length);
        _entries.Add(entry);
        _sources.Add(source);
        return _entries.Count - 1;
    }

    /// <summary>
    /// Leaves out an entry appended earlier: a file or directory the walk listed that was gone (or could not be read)
    /// when it came to read it. <see cref="Build"/> drops it and renumbers the entries after it. A directory left out
    /// must have no children appended; no hardlink may name the entry. Its name (and any xattrs) stay in STRINGS and
    /// XATTRS, unreferenced: readers follow references only, and compacting the strings is not worth it for so rare a case.
    /// </summary>
    public void LeaveOut(int index) => _leftOut.Add(index);

    public uint AddString(ReadOnlySpan<byte> bytes)
    {
        var offset = (uint)_strings.WrittenCount;
        _strings.Write(bytes);
        return offset;
    }

    public void SetXattrs(int entry, IReadOnlyList<KeyValuePair<byte[], byte[]>>? xattrs)
    {
        if (xattrs is null || xattrs.Count == 0)
        {
            return;
        }

        ref var e = ref Entry(entry);
        e.XattrStart = (uint)_xattrs.Count;
        e.XattrCount = checked((ushort)xattrs.Count);
        foreach (var (name, value) in xattrs.OrderBy(x => x.Key, ByteComparer.Instance))
        {
            var nameOffset = AddString(name);
            var valueOffset = AddString(value);
            _xattrs.Add(new XattrRecord { NameOffset = nameOffset, NameLength = (uint)name.Length, ValueOffset = valueOffset, ValueLength = (uint)value.Length });
        }
    }

    /// <summary>Appends a chunk reference of the file being built; the chunk must be known to the index.</summary>
    public void AddChunkRef(long offset, ContentId id, ChunkSlot slot)
    {
        if (!_chunkNumbers.TryGetValue(id, out var number))
        {
            number = _chunks.Count;
            _chunks.Add(new ChunkRecord { Id = id, Length = (uint)slot.Length });
            _chunkSlots.Add(slot);
            _chunkNumbers.Add(id, number);
        }

        _chunkRefs.Add(new ChunkRef { Offset = offset, Chunk = (uint)number });
    }

    /// <summary>Produces the manifest; every frame the chunks live in must have been completed in <paramref name="index"/>.</summary>
    public Manifest Build(ChunkIndex index)
    {
        var packNumbers = new Dictionary<int, uint>();
        var packs = new List<ContentId>();
        var frameNumbers = new Dictionary<int, uint>();
        var frames = new List<FrameRecord>();
        var segmentSizes = new List<uint>();
        var locations = new ChunkLocation[_chunks.Count];
        for (var c = 0; c < _chunks.Count; c++)
        {
            // Where the index has the chunk now: a copy the run made after a file referenced it where it was (to keep a
            // lineage's restores in frames it uses) serves that file too, instead of going unused.
            var slot = index.TryGet(_chunks[c].Id, out var latest) && latest.Length == _chunkSlots[c].Length ? latest : _chunkSlots[c];
            if (!frameNumbers.TryGetValue(slot.Frame, out var frame))
            {
                var f = index.Frame(slot.Frame);
                if (f.Pack < 0)
                {
                    throw new InvalidOperationException($"frame {slot.Frame} was never written to a pack");
                }

                if (!packNumbers.TryGetValue(f.Pack, out var pack))
                {
                    pack = (uint)packs.Count;
                    packs.Add(index.Packs[f.Pack]);
                    packNumbers.Add(f.Pack, pack);
                }

                frame = (uint)frames.Count;
                frames.Add(new FrameRecord { Offset = f.Offset, Pack = pack, CompressedLength = (uint)f.CompressedLength, UncompressedLength = (uint)f.UncompressedLength, Checksum = f.Checksum });
                segmentSizes.Add(index.SegmentSizeOf(slot.Frame) is >= 0 and var size ? (uint)size : Manifest.UnknownSegmentSize);
                frameNumbers.Add(slot.Frame, frame);
            }

            locations[c] = new ChunkLocation { Frame = frame, OffsetInFrame = (uint)slot.OffsetInFrame };
        }

        var (entries, sources) = _leftOut.Count == 0 ? ([.. _entries], [.. _sources]) : WithoutLeftOut();
        return new Manifest(
            entries,
            _strings.WrittenSpan.ToArray(),
            [.. _xattrs],
            [.. _chunkRefs],
            [.. _chunks],
            [.. packs],
            [.. frames],
            locations,
            sources,
            [.. segmentSizes]);
    }

    /// <summary>The entries and their sources without those left out, renumbered: directories' children and hardlinks' targets follow.</summary>
    private (EntryRecord[] Entries, SourceRecord[] Sources) WithoutLeftOut()
    {
        // before[i]: how many entries before i are left out, so entry i becomes i - before[i]. A directory's children
        // stay contiguous: those left out are dropped from its range.
        var before = new int[_entries.Count + 1];
        for (var i = 0; i < _entries.Count; i++)
        {
            before[i + 1] = before[i] + (_leftOut.Contains(i) ? 1 : 0);
        }

        var entries = new EntryRecord[_entries.Count - _leftOut.Count];
        var sources = new SourceRecord[entries.Length];
        for (var i = 0; i < _entries.Count; i++)
        {
            var e = _entries[i];
            if (before[i + 1] != before[i])
            {
                if (i == 0 || (e.Kind == EntryKind.Directory && e.Count > 0))
                {
                    throw new InvalidOperationException($"entry {i} cannot be left out: the root, or a directory with children");
                }

                continue;
            }

            switch (e.Kind)
            {
                case EntryKind.Directory:
                    var end = (int)(e.First + e.Count);
                    e.Count -= (uint)(before[end] - before[e.First]);
                    e.First -= (uint)before[e.First];
                    break;
                case EntryKind.Hardlink when before[e.First + 1] != before[e.First]:
                    throw new InvalidOperationException($"entry {i} is a hardlink to an entry left out");
                case EntryKind.Hardlink:
                    e.First -= (uint)before[e.First];
                    break;
            }

            entries[i - before[i]] = e;
            sources[i - before[i]] = _sources[i];
        }

        return (entries, sources);
    }

    private sealed class ByteComparer : IComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
