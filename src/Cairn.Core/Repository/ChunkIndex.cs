using Cairn.Format;
using Cairn.Manifests;

namespace Cairn.Repository;

/// <summary>A frame known to the index: its pack (number in <see cref="ChunkIndex.Packs"/>) and its place in it.</summary>
public record struct FrameSlot(int Pack, long Offset, int CompressedLength, int UncompressedLength, uint Checksum);

/// <summary>A chunk known to the index: its frame (see <see cref="ChunkIndex.Frame"/>), offset and length.</summary>
public readonly record struct ChunkSlot(int Frame, int OffsetInFrame, int Length);

/// <summary>
/// Which chunks the repository holds and where: the dedup table of a snapshot run. Loaded from the index objects
/// (and, for packs no index covers yet, from the packs' own trailers), then extended as the run writes frames.
/// Chunks are keyed by <see cref="ContentId.IndexKey"/>, the part of an id that pack indexes store: lookups and
/// placements take full ids or keys alike, and <see cref="SlotsIn"/> gives what the pack index holds (keys for version 2,
/// full ids for version 1), to be compared by key. Not thread-safe except where noted: the snapshot pipeline mutates it
/// from one thread.
/// </summary>
public sealed class ChunkIndex
{
    private readonly List<ContentId> _packs = [];
    private readonly Dictionary<ContentId, int> _packNumbers = [];
    private readonly List<FrameSlot> _frames = [];
    private readonly Dictionary<(int Pack, long Offset), int> _frameNumbers = [];
    private readonly Dictionary<ContentId, ChunkSlot> _chunks = [];
    private readonly Dictionary<int, int> _segmentSizes = [];
    private readonly Lock _framesLock = new();

    public IReadOnlyList<ContentId> Packs => _packs;

    /// <summary>
    /// Packs no index object named, recovered from their own trailers (left by an interrupted run). The next snapshot
    /// run lists them in its index object, so they are read this way once, not by every later run.
    /// </summary>
    public List<(ContentId Pack, PackIndex Index)> RecoveredPacks { get; } = [];

    public int ChunkCount => _chunks.Count;

    /// <summary>Frames numbered so far: a frame reserved from now on gets this number or a higher one.</summary>
    public int FrameCount
    {
        get
        {
            lock (_framesLock)
            {
                return _frames.Count;
            }
        }
    }

    public IReadOnlyCollection<ContentId> PackIds => _packNumbers.Keys;

    public bool ContainsPack(ContentId pack) => _packNumbers.ContainsKey(pack);

    public bool TryGet(ContentId chunk, out ChunkSlot slot) => _chunks.TryGetValue(chunk.IndexKey, out slot);

    /// <summary>Adds what a pack holds (from an index object or the pack's trailer). Chunks already known keep their first location.</summary>
    public void AddPack(ContentId pack, PackIndex index)
    {
        foreach (var (id, slot) in SlotsIn(pack, index))
        {
            _chunks.TryAdd(id.IndexKey, slot);
        }
    }

    /// <summary>Where each chunk of a pack is, as this index numbers frames (registering the pack and its frames).</summary>
    public IEnumerable<(ContentId Id, ChunkSlot Slot)> SlotsIn(ContentId pack, PackIndex index)
    {
        var packNumber = PackNumber(pack);
        var frameNumbers = new int[index.Frames.Count];
        for (var f = 0; f < frameNumbers.Length; f++)
        {
            var info = index.Frames[f];
            frameNumbers[f] = FrameNumber(packNumber, info.Offset, info.CompressedLength, info.UncompressedLength, info.Checksum);
        }

        foreach (var c in index.Chunks)
        {
            yield return (c.Id, new ChunkSlot(frameNumbers[c.Frame], c.OffsetInFrame, c.Length));
        }
    }

    /// <summary>Registers a frame that a manifest names (used when reusing a parent's chunks), with its segment size if the manifest records it.</summary>
    public int AddManifestFrame(Manifest manifest, int frame)
    {
        var record = manifest.Frames[frame];
        var pack = PackNumber(manifest.Packs[record.Pack]);
        var number = FrameNumber(pack, record.Offset, (int)record.CompressedLength, (int)record.UncompressedLength, record.Checksum);
        if (manifest.KnownSegmentSize(frame) is >= 0 and var size)
        {
            LearnSegmentSize(number, size);
        }

        return number;
    }

    /// <summary>
    /// The segment size of a frame (0: not segmented), or -1 where this run has not learnt it: a frame it wrote, one a
    /// parent manifest records, or one whose head it read (<see cref="LearnSegmentSize"/>). The manifests the run
    /// writes record it (SEGMENTSIZES), so that the next run need not read the frame's head. Thread-safe.
    /// </summary>
    public int SegmentSizeOf(int frame)
    {
        lock (_framesLock)
        {
            return _segmentSizes.TryGetValue(frame, out var size) ? size : -1;
        }
    }

    /// <summary>Records the segment size of a frame (0: not segmented). Thread-safe.</summary>
    public void LearnSegmentSize(int frame, int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        lock (_framesLock)
        {
            _segmentSizes[frame] = size;
        }
    }

    /// <summary>
    /// Points <paramref name="chunk"/> at <paramref name="slot"/> from now on, whether it was known elsewhere or not at
    /// all: a chunk just written (which may be a second copy, see <c>ParentLayout</c>), or one a parent manifest places.
    /// </summary>
    public void Place(ContentId chunk, ChunkSlot slot) => _chunks[chunk.IndexKey] = slot;

    /// <summary>Reserves the number of a frame whose pack is not written yet; <see cref="CompleteFrame"/> fills it in. Thread-safe.</summary>
    public int ReserveFrame()
    {
        lock (_framesLock)
        {
            _frames.Add(new FrameSlot(-1, 0, 0, 0, 0));
            return _frames.Count - 1;
        }
    }

    /// <summary>Records where a reserved frame ended up, and its segment size (0: not segmented). Thread-safe with respect to <see cref="ReserveFrame"/>.</summary>
    public void CompleteFrame(int frame, ContentId pack, FrameInfo info, int segmentSize)
    {
        lock (_framesLock)
        {
            var packNumber = PackNumber(pack);
            _frames[frame] = new FrameSlot(packNumber, info.Offset, info.CompressedLength, info.UncompressedLength, info.Checksum);
            _frameNumbers[(packNumber, info.Offset)] = frame;
            _segmentSizes[frame] = segmentSize;
        }
    }

    public FrameSlot Frame(int frame)
    {
        lock (_framesLock)
        {
            return _frames[frame];
        }
    }

    private int PackNumber(ContentId pack)
    {
        lock (_framesLock)
        {
            if (!_packNumbers.TryGetValue(pack, out var number))
            {
                number = _packs.Count;
                _packs.Add(pack);
                _packNumbers.Add(pack, number);
            }

            return number;
        }
    }

    private int FrameNumber(int pack, long offset, int compressed, int uncompressed, uint checksum)
    {
        lock (_framesLock)
        {
            if (!_frameNumbers.TryGetValue((pack, offset), out var number))
            {
                number = _frames.Count;
                _frames.Add(new FrameSlot(pack, offset, compressed, uncompressed, checksum));
                _frameNumbers.Add((pack, offset), number);
            }

            return number;
        }
    }
}
