using Cairn.Format;
using Cairn.Manifests;

namespace Cairn.Inspection;

/// <summary>
/// What one file (or a set of files, summed) of a snapshot is made of, against the snapshot's parent: blocks (chunk
/// references) new in this snapshot — their chunk is not in the parent's manifest — or inherited from it, holes and
/// elided zero blocks, and the frames, packs and stored bytes behind them.
/// </summary>
/// <param name="Path">The file's path in the snapshot, or a label for a sum.</param>
/// <param name="Size">Logical size in bytes.</param>
/// <param name="Blocks">Chunk references (a chunk used twice counts twice).</param>
/// <param name="NewBlocks">References to chunks the parent's manifest does not hold.</param>
/// <param name="InheritedBlocks">References to chunks the parent's manifest holds.</param>
/// <param name="HoleBlocks">Image blocks not stored: holes and all-zero blocks (null for a tree's files, whose chunks have no fixed size).</param>
/// <param name="HoleBytes">Bytes no chunk covers: they read as zeros.</param>
/// <param name="NewBytes">Uncompressed bytes of the distinct new chunks.</param>
/// <param name="NewStoredBytes">Compressed bytes attributable to the distinct new chunks (each chunk's share of its frame).</param>
/// <param name="DataBytes">Bytes the chunk references cover.</param>
/// <param name="DistinctBytes">Uncompressed bytes of the distinct chunks the references name: the least a restore decompresses (a block used twice is decompressed once).</param>
/// <param name="Frames">Distinct frames the file's chunks live in.</param>
/// <param name="FrameBytes">Uncompressed bytes of those frames, whole (more than <paramref name="DataBytes"/> where frames also hold chunks other snapshots use).</param>
/// <param name="DecodedBytes">What a restore of the file decompresses: <paramref name="FrameBytes"/>, less the segments of segmented frames that hold none of its chunks. Where several images share a frame or segment, each counts the bytes it uses there and its share, by use, of the bytes none of them uses (<see cref="UseByUnit"/>): the images' figures add up to what the snapshot's restore decompresses, plus the blocks two images hold in common, which each counts.</param>
/// <param name="Packs">Distinct packs the file's chunks live in.</param>
/// <param name="NewFrames">Distinct frames holding new chunks.</param>
/// <param name="NewPacks">Distinct packs holding new chunks.</param>
/// <param name="MovedBlocks">Inherited blocks whose chunk lives in a frame the parent does not use: stored again (by this snapshot, or by a run of it that was interrupted) out of a frame or segment the parent mostly no longer used (see <c>ParentLayout</c>).</param>
/// <param name="MovedBytes">Uncompressed bytes of the distinct chunks of <paramref name="MovedBlocks"/>.</param>
/// <param name="MovedStoredBytes">Compressed bytes attributable to them (each chunk's share of its frame).</param>
public sealed record BlockMap(
    string Path,
    long Size,
    long Blocks,
    long NewBlocks,
    long InheritedBlocks,
    long? HoleBlocks,
    long HoleBytes,
    long NewBytes,
    long NewStoredBytes,
    long DataBytes,
    long DistinctBytes,
    int Frames,
    long FrameBytes,
    long DecodedBytes,
    int Packs,
    int NewFrames,
    int NewPacks,
    long MovedBlocks,
    long MovedBytes,
    long MovedStoredBytes)
{
    /// <summary>
    /// The block map of <paramref name="entries"/> of <paramref name="m"/> taken together, against the chunks of the
    /// parent (<paramref name="parentChunks"/>; empty without a parent, so every block is new) and its frames
    /// (<paramref name="parentFrames"/>: pack and offset of each). With <paramref name="blockSize"/> (an image), hole
    /// blocks are counted too. <paramref name="segmentSizes"/> gives the segment size of each segmented frame (0 or
    /// none for the others). <paramref name="shared"/>, for files whose maps are shown side by side, divides between them
    /// the bytes of a frame or segment that none of them uses (<see cref="SharedUse"/>).
    /// </summary>
    public static BlockMap Of(Manifest m, IEnumerable<int> entries, IReadOnlySet<ContentId> parentChunks, IReadOnlySet<(ContentId Pack, long Offset)> parentFrames, string path, int? blockSize, int[]? segmentSizes = null, SharedUse? shared = null)
    {
        entries = entries as IReadOnlyCollection<int> ?? [.. entries];
        var use = entries is IReadOnlyList<int> { Count: 1 } one && shared?.ByFile.TryGetValue(one[0], out var worked) == true
            ? worked // SharedUse.Of has been over this file's references already
            : UseByUnit(m, entries, segmentSizes);
        long size = 0, blocks = 0, newBlocks = 0, covered = 0, slots = 0, newBytes = 0, movedBlocks = 0, movedBytes = 0, distinctBytes = 0;
        double newStored = 0, movedStored = 0;
        var distinct = new HashSet<uint>(); // chunks seen: whether a chunk is new, inherited or moved is the same at every reference
        var frames = new HashSet<uint>();
        var newFrames = new HashSet<uint>();
        foreach (var entry in entries)
        {
            size += m.Entries[entry].Size;
            if (blockSize is { } b)
            {
                slots += (m.Entries[entry].Size + b - 1) / b;
            }

            foreach (var r in m.ChunkRefsOf(entry))
            {
                var chunk = m.Chunks[r.Chunk];
                var frame = m.Locations[r.Chunk].Frame;
                blocks++;
                covered += chunk.Length;
                var firstUse = distinct.Add(r.Chunk);
                if (firstUse)
                {
                    distinctBytes += chunk.Length;
                }

                frames.Add(frame);
                if (parentChunks.Contains(chunk.Id))
                {
                    var f = m.Frames[frame];
                    if (!parentFrames.Contains((m.Packs[f.Pack], f.Offset)))
                    {
                        movedBlocks++;
                        if (firstUse)
                        {
                            movedBytes += chunk.Length;
                            movedStored += (double)chunk.Length * f.CompressedLength / f.UncompressedLength;
                        }
                    }

                    continue;
                }

                newBlocks++;
                newFrames.Add(frame);
                if (firstUse)
                {
                    var f = m.Frames[frame];
                    newBytes += chunk.Length;
                    newStored += (double)chunk.Length * f.CompressedLength / f.UncompressedLength;
                }
            }
        }

        return new BlockMap(
            path,
            size,
            blocks,
            newBlocks,
            blocks - newBlocks,
            blockSize is null ? null : Math.Max(0, slots - blocks),
            size - covered,
            newBytes,
            (long)Math.Round(newStored),
            covered,
            distinctBytes,
            frames.Count,
            frames.Sum(f => (long)m.Frames[f].UncompressedLength),
            Decoded(m, use, segmentSizes, shared),
            frames.Select(f => m.Frames[f].Pack).Distinct().Count(),
            newFrames.Count,
            newFrames.Select(f => m.Frames[f].Pack).Distinct().Count(),
            movedBlocks,
            movedBytes,
            (long)Math.Round(movedStored));
    }

    /// <summary>
    /// The bytes of distinct chunks <paramref name="entries"/> use in each unit a restore decodes whole: a segment of a
    /// segmented frame (<paramref name="segmentSizes"/>), else the whole frame (segment -1). A chunk across two
    /// segments counts in each for the bytes it has there.
    /// </summary>
    public static Dictionary<(uint Frame, int Segment), long> UseByUnit(Manifest m, IEnumerable<int> entries, int[]? segmentSizes)
    {
        var use = new Dictionary<(uint Frame, int Segment), long>();
        var seen = new HashSet<uint>();
        foreach (var entry in entries)
        {
            foreach (var r in m.ChunkRefsOf(entry))
            {
                if (!seen.Add(r.Chunk))
                {
                    continue;
                }

                var location = m.Locations[r.Chunk];
                long length = m.Chunks[r.Chunk].Length;
                if (segmentSizes?[location.Frame] is not (> 0 and var segmentSize))
                {
                    Add((location.Frame, -1), length);
                    continue;
                }

                var (first, last) = FrameSegments.SegmentsOf(location.OffsetInFrame, length, segmentSize);
                for (var s = first; s <= last; s++)
                {
                    var start = Math.Max((long)s * segmentSize, location.OffsetInFrame);
                    var end = Math.Min(((long)s + 1) * segmentSize, location.OffsetInFrame + length);
                    Add((location.Frame, s), end - start);
                }
            }
        }

        return use;

        void Add((uint, int) unit, long bytes) => use[unit] = use.GetValueOrDefault(unit) + bytes;
    }

    /// <summary>
    /// The bytes of the units a restore decodes for <paramref name="use"/>: in each, the bytes used, and of those no
    /// file of <paramref name="shared"/> uses, the share of this one by use (without <paramref name="shared"/>, all).
    /// </summary>
    private static long Decoded(Manifest m, IReadOnlyDictionary<(uint Frame, int Segment), long> use, int[]? segmentSizes, SharedUse? shared)
    {
        double decoded = 0;
        foreach (var ((frame, segment), bytes) in use)
        {
            long length = segment < 0 ? m.Frames[frame].UncompressedLength : FrameSegments.LengthOf(segment, segmentSizes![frame], m.Frames[frame].UncompressedLength);
            if (shared is not null && shared.Sum.TryGetValue((frame, segment), out var sum) && sum > 0 && shared.Union.TryGetValue((frame, segment), out var union))
            {
                decoded += bytes + ((double)(length - union) * bytes / sum);
            }
            else
            {
                decoded += length;
            }
        }

        return (long)Math.Round(decoded);
    }
}

/// <summary>
/// The use of each frame or segment by files whose block maps are shown side by side: <paramref name="Union"/>, the
/// bytes of the distinct chunks any of them uses there (<see cref="BlockMap.UseByUnit"/> of all of them), and
/// <paramref name="Sum"/>, the sum of each file's own use (a chunk two files use counts for both), and each file's
/// own use, <paramref name="ByFile"/> (by entry), which <see cref="BlockMap.Of"/> takes instead of working it out again.
/// </summary>
public sealed record SharedUse(
    IReadOnlyDictionary<(uint Frame, int Segment), long> Union,
    IReadOnlyDictionary<(uint Frame, int Segment), long> Sum,
    IReadOnlyDictionary<int, IReadOnlyDictionary<(uint Frame, int Segment), long>> ByFile)
{
    public static SharedUse Of(Manifest m, IReadOnlyList<int> files, int[]? segmentSizes)
    {
        var sum = new Dictionary<(uint Frame, int Segment), long>();
        var byFile = new Dictionary<int, IReadOnlyDictionary<(uint Frame, int Segment), long>>();
        foreach (var file in files)
        {
            var use = BlockMap.UseByUnit(m, [file], segmentSizes);
            byFile[file] = use;
            foreach (var (unit, bytes) in use)
            {
                sum[unit] = sum.GetValueOrDefault(unit) + bytes;
            }
        }

        return new SharedUse(BlockMap.UseByUnit(m, files, segmentSizes), sum, byFile);
    }
}
