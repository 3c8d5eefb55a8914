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
/// <param name="DecodedBytes">What a restore of the file decompresses: <paramref name="FrameBytes"/>, less the segments of segmented frames that hold none of its chunks.</param>
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
    /// none for the others).
    /// </summary>
    public static BlockMap Of(Manifest m, IEnumerable<int> entries, IReadOnlySet<ContentId> parentChunks, IReadOnlySet<(ContentId Pack, long Offset)> parentFrames, string path, int? blockSize, int[]? segmentSizes = null)
    {
        var segments = new HashSet<(uint Frame, int Segment)>();
        var segmentBytes = new Dictionary<uint, long>(); // per segmented frame: the bytes of the segments the entries touch
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
                if (segmentSizes?[frame] is > 0 and var segmentSize)
                {
                    var (first, last) = FrameSegments.SegmentsOf(m.Locations[r.Chunk].OffsetInFrame, chunk.Length, segmentSize);
                    for (var s = first; s <= last; s++)
                    {
                        if (segments.Add((frame, s)))
                        {
                            segmentBytes[frame] = segmentBytes.GetValueOrDefault(frame) + FrameSegments.LengthOf(s, segmentSize, m.Frames[frame].UncompressedLength);
                        }
                    }
                }
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
            frames.Sum(f => segmentBytes.TryGetValue(f, out var bytes) ? bytes : m.Frames[f].UncompressedLength),
            frames.Select(f => m.Frames[f].Pack).Distinct().Count(),
            newFrames.Count,
            newFrames.Select(f => m.Frames[f].Pack).Distinct().Count(),
            movedBlocks,
            movedBytes,
            (long)Math.Round(movedStored));
    }
}
