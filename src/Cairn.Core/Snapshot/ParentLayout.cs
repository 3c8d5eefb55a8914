using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;

namespace Cairn.Snapshot;

/// <summary>
/// How a run with a parent places the chunks it shares with it: where the parent has them, except the chunks in the
/// parent's frames that are mostly dead to it, which the run writes again. A relayout (<see cref="Relayout"/>) writes
/// them all again.
/// </summary>
/// <remarks>
/// <para>A restore decompresses whole frames, or of a segmented frame (<see cref="FrameSegments"/>) the segments it needs. Along a lineage every version leaves the blocks it replaced in its
/// ancestors' frames, so a deep descendant's blocks would end up spread over frames that mostly hold data no version
/// it needs still uses, and the bytes decompressed per byte restored would grow with the depth (measured before this:
/// 1.16 at depth 10 of a memory image changed 5 % per generation, and growing ~2 % per generation).</para>
/// <para>So a chunk of the parent's that lies in a frame where the parent uses less than half of the bytes, or in
/// segments of a segmented frame of which the parent uses less than half, is <em>movable</em>: when the run reads
/// it, it stores it again, in a new frame next to its own data, and its manifest points at the new copy. The frames
/// and segments a version's restore decompresses are then at least half its parent's data when it took them over,
/// whatever the depth. Which frames are segmented, and in what size, their first 12 bytes say: one small ranged read
/// per frame that is more than half used and not wholly (measured on the chain benchmark: 3–10 MB stored again per
/// generation instead of 0–5, and depth 10 decompresses 444–452 MB instead of 499; the same image snapshotted alone, 399).</para>
/// <para>What it costs. Within a lineage, a frame's chunks move only once changes have left at least half its bytes
/// unused, and after that the frame holds nothing the descendants use: at most one extra copy per byte changed. A
/// lineage whose first snapshot found its blocks in frames written by another lineage (dedup across the repository)
/// moves those it uses from the frames it uses less than half of, once. Only chunks the run reads move: a file the
/// run takes over unread (unchanged since the parent) keeps its chunks where the parent has them, unless a file the
/// run reads copies one, and then it uses the copy too (the manifest names where the run left each chunk).</para>
/// <para>Past a bound (<see cref="SnapshotOptions.RelayoutAbove"/>), an image whose parent version leaves too many
/// unused bytes in the frames and segments a child keeps is stored again whole: <see cref="Placement.Entries"/> says
/// what each of the parent's files leaves.</para>
/// <para>The parent's placement is taken over first: the run's dedup table would otherwise use whichever copy of a
/// chunk it loaded first, possibly an old one in a frame the parent has left, which no measure of the parent's frames
/// would see. Copies an interrupted run already made (packs no index object names yet) are used instead of making
/// them again.</para>
/// </remarks>
internal static class ParentLayout
{
    /// <summary>
    /// Points <paramref name="index"/> at the parent's copy of each of its chunks, and works out the run's
    /// <see cref="Placement"/>: the movable chunks (in a frame of which the parent uses less than half, or in a segment
    /// of a segmented frame, <see cref="FrameSegments"/>, of which it uses less than half; not already copied by an
    /// interrupted run; by <see cref="ContentId.IndexKey"/>, as recovered pack indexes name chunks), the frames the run
    /// keeps, and what each of the parent's files leaves unused in them. Only in an image run (<paramref name="segments"/>)
    /// are the parent's frames asked whether they are segmented: a tree's never are.
    /// </summary>
    public static async Task<Placement> ApplyAsync(Manifest parent, ChunkIndex index, Repository.Repository repository, bool segments, CancellationToken cancellationToken)
    {
        var frames = new int[parent.Frames.Length];
        for (var f = 0; f < frames.Length; f++)
        {
            frames[f] = index.AddManifestFrame(parent, f);
        }

        for (var c = 0; c < parent.Chunks.Length; c++)
        {
            var location = parent.Locations[c];
            index.Place(parent.Chunks[c].Id, new ChunkSlot(frames[location.Frame], (int)location.OffsetInFrame, (int)parent.Chunks[c].Length));
        }

        // A restore decompresses only the segments it needs of a segmented frame: those are what must be mostly used,
        // and what a file left where it is costs.
        var used = parent.UsedBytesByFrame();
        var segmentSizes = segments ? await repository.ReadSegmentSizesAsync(parent, used, cancellationToken).ConfigureAwait(false) : new int[parent.Frames.Length];
        var unread = false;
        for (var f = 0; f < segmentSizes.Length; f++)
        {
            if (segmentSizes[f] < 0)
            {
                // A frame whose head could not be read is taken whole: its segments' use is not known.
                unread = true;
                segmentSizes[f] = 0;
            }
            else if (segments && Repository.Repository.AsksSegmentSize(parent.Frames[f], used[f]))
            {
                // Found out, from the parent's manifest or the frame's head: the run's manifest records it
                // (SEGMENTSIZES), so that a child does not read the head again.
                index.LearnSegmentSize(frames[f], segmentSizes[f]);
            }
        }

        var segmentUse = SegmentUse(parent, segmentSizes);

        // The frames and segments a child keeps decompressing are those the parent uses at least half of (the blocks in
        // the others move, if the child reads them); what the parent leaves unused in them, a child inherits.
        var kept = new Dictionary<int, KeptFrame>();
        var units = new Dictionary<(int Frame, int Segment), Unit>(); // what a restore of the parent decodes (segment -1: a whole frame), by manifest frame
        for (var f = 0; f < frames.Length; f++)
        {
            var length = parent.Frames[f].UncompressedLength;
            var frameKept = used[f] * 2 >= length;
            if (segmentUse[f] is not { } use)
            {
                units[(f, -1)] = new Unit(length - used[f], used[f], frameKept);
                if (frameKept)
                {
                    kept[frames[f]] = new KeptFrame(0, null);
                }

                continue;
            }

            var segmentsKept = new bool[use.Length];
            for (var s = 0; s < use.Length; s++)
            {
                var segmentLength = FrameSegments.LengthOf(s, segmentSizes[f], length);
                segmentsKept[s] = frameKept && use[s] * 2 >= segmentLength;
                if (use[s] > 0)
                {
                    units[(f, s)] = new Unit(segmentLength - use[s], use[s], segmentsKept[s]);
                }
            }

            if (frameKept)
            {
                kept[frames[f]] = new KeptFrame(segmentSizes[f], segmentsKept);
            }
        }

        var movable = new HashSet<ContentId>();
        for (var c = 0; c < parent.Chunks.Length; c++)
        {
            var location = parent.Locations[c];
            if (!KeptFrame.Keeps(kept, new ChunkSlot(frames[location.Frame], (int)location.OffsetInFrame, (int)parent.Chunks[c].Length)))
            {
                movable.Add(parent.Chunks[c].Id.IndexKey);
            }
        }

        // Copies an interrupted run made are used: those of movable chunks, and of any chunk the parent's kept frames
        // do not hold; those of the others, only by a file this run relays out.
        var recovered = new HashSet<int>();
        var copies = new Dictionary<ContentId, ChunkSlot>();
        foreach (var (pack, packIndex) in index.RecoveredPacks)
        {
            foreach (var (id, slot) in index.SlotsIn(pack, packIndex))
            {
                recovered.Add(slot.Frame);
                if (movable.Remove(id.IndexKey) || (index.TryGet(id, out var current) && !KeptFrame.Keeps(kept, current)))
                {
                    index.Place(id, slot);
                }
                else if (current.Frame != slot.Frame)
                {
                    copies[id.IndexKey] = slot;
                }
            }
        }

        // Only image runs are bounded (SnapshotOptions.RelayoutAbove). What the parent leaves unused is not known where
        // a frame could not be asked: no file is relaid out on a guess.
        var entries = !segments || unread ? new Dictionary<int, EntryUse>() : InheritedUse(parent, segmentSizes, units);
        return new Placement(movable, entries) { Frames = new ParentFrames(kept, recovered, index.FrameCount) { Copies = copies } };
    }

    /// <summary>
    /// Per regular entry of the parent (an image), the unused bytes in the kept frames and segments its blocks lie in,
    /// and the bytes of its distinct blocks: what a child that keeps the image where the parent has it would
    /// decompress for nothing, against what it needs. A frame or segment several images use is apportioned by use: a
    /// small image (a vmstate file) with a few blocks in a memory image's segment does not carry all of its unused bytes.
    /// </summary>
    private static Dictionary<int, EntryUse> InheritedUse(Manifest parent, int[] segmentSizes, Dictionary<(int Frame, int Segment), Unit> units)
    {
        var result = new Dictionary<int, EntryUse>();
        var use = new Dictionary<(int Frame, int Segment), long>();
        var chunks = new HashSet<uint>();
        for (var e = 0; e < parent.Entries.Length; e++)
        {
            var refs = parent.ChunkRefsOf(e);
            if (refs.IsEmpty)
            {
                continue;
            }

            use.Clear();
            chunks.Clear();
            long bytes = 0;
            foreach (var r in refs)
            {
                if (!chunks.Add(r.Chunk))
                {
                    continue;
                }

                var (frame, offset, length) = ((int)parent.Locations[r.Chunk].Frame, (long)parent.Locations[r.Chunk].OffsetInFrame, parent.Chunks[r.Chunk].Length);
                bytes += length;
                var (first, last) = segmentSizes[frame] > 0 ? FrameSegments.SegmentsOf(offset, length, segmentSizes[frame]) : (-1, -1);
                for (var s = first; s <= last; s++)
                {
                    use[(frame, s)] = use.GetValueOrDefault((frame, s)) + length;
                }
            }

            double inKept = 0, inAll = 0;
            foreach (var (key, bytesUsed) in use)
            {
                var unit = units[key];
                var share = unit.Used == 0 ? 0 : (double)unit.Unused * Math.Min(bytesUsed, unit.Used) / unit.Used;
                inAll += share;
                inKept += unit.Kept ? share : 0;
            }

            result[e] = new EntryUse((long)Math.Round(inKept), (long)Math.Round(inAll), bytes);
        }

        return result;
    }

    /// <summary>
    /// What <see cref="ApplyAsync"/> found: the chunks the run stores again if it reads them (<paramref name="Movable"/>,
    /// by <see cref="ContentId.IndexKey"/>), and in an image run, per regular entry of the parent (<paramref name="Entries"/>,
    /// by entry number), what a child keeping it in place inherits.
    /// </summary>
    public sealed record Placement(HashSet<ContentId> Movable, IReadOnlyDictionary<int, EntryUse> Entries)
    {
        /// <summary>Which frames and segments the run keeps decompressing: the parent's well-used ones and its own.</summary>
        public required ParentFrames Frames { get; init; }
    }

    /// <summary>
    /// Of one file of the parent: the bytes its restore decompresses for nothing in the frames and segments a child
    /// that reads the file keeps (<paramref name="KeptUnusedBytes"/>: blocks earlier versions replaced), in all those it
    /// touches (<paramref name="UnusedBytes"/>: what a child that takes the file over unread inherits), and the bytes
    /// of its distinct blocks (<paramref name="Bytes"/>).
    /// </summary>
    public readonly record struct EntryUse(long KeptUnusedBytes, long UnusedBytes, long Bytes);

    /// <summary>A frame or segment a restore of the parent decodes: the bytes in it the parent does not use, those it does, and whether a child keeps it.</summary>
    private readonly record struct Unit(long Unused, long Used, bool Kept);

    /// <summary>
    /// The frames a run with a parent reads its chunks from as they are: the frames and segments the parent uses at
    /// least half of (<paramref name="kept"/>, by the index's frame numbers), and the run's own: those of packs an
    /// interrupted run left (<paramref name="recovered"/>) and those numbered <paramref name="first"/> or higher.
    /// </summary>
    /// <remarks>
    /// An image run stores again a chunk it finds anywhere else, though the parent does not hold it: a block that comes
    /// back (a page an earlier version held and a later one replaced) or one another lineage stored. A restore would
    /// otherwise decompress, for that block, a frame or segment that holds mostly data the lineage no longer uses; and
    /// after a relayout every frame of the ancestors is such a frame. A tree run references it where it is: files
    /// shared across lineages (the same packages in many workspaces) are most of what deduplication saves there, and
    /// a file's chunks lie together.
    /// </remarks>
    public sealed class ParentFrames(Dictionary<int, KeptFrame> kept, HashSet<int> recovered, int first)
    {
        /// <summary>
        /// Copies an interrupted run made of chunks the parent's kept frames hold, by <see cref="ContentId.IndexKey"/>:
        /// for a file this run relays out, which would otherwise make them again.
        /// </summary>
        public Dictionary<ContentId, ChunkSlot> Copies { get; init; } = [];

        public bool Keeps(ChunkSlot slot) => IsOwn(slot) || KeptFrame.Keeps(kept, slot);

        /// <summary>Whether <paramref name="slot"/> lies in a frame this run (or an interrupted run of it) wrote.</summary>
        public bool IsOwn(ChunkSlot slot) => slot.Frame >= first || recovered.Contains(slot.Frame);
    }

    /// <summary>A frame of the parent's at least half used: whole (<paramref name="SegmentSize"/> 0), or the segments of it that are.</summary>
    public sealed record KeptFrame(int SegmentSize, bool[]? Segments)
    {
        /// <summary>Whether <paramref name="slot"/> lies in a kept frame, and there in a kept segment (one of those it touches).</summary>
        public static bool Keeps(Dictionary<int, KeptFrame> kept, ChunkSlot slot)
        {
            if (!kept.TryGetValue(slot.Frame, out var frame))
            {
                return false;
            }

            if (frame.Segments is not { } segments)
            {
                return true;
            }

            var (first, last) = FrameSegments.SegmentsOf(slot.OffsetInFrame, slot.Length, frame.SegmentSize);
            for (var s = first; s <= last; s++)
            {
                if (segments[s])
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>
    /// For a relayout (<see cref="SnapshotOptions.Relayout"/>), which stores again every chunk it reads that lies in a
    /// frame not its own: points <paramref name="index"/> at the copies an interrupted relayout made (packs no index
    /// object names yet), and returns the frames that count as the run's: those, and every frame reserved from now on.
    /// Frames are told apart by number, not chunks by id: no set as large as the index.
    /// </summary>
    public static ParentFrames Relayout(ChunkIndex index)
    {
        var recovered = new HashSet<int>();
        foreach (var (pack, packIndex) in index.RecoveredPacks)
        {
            foreach (var (id, slot) in index.SlotsIn(pack, packIndex))
            {
                index.Place(id, slot);
                recovered.Add(slot.Frame);
            }
        }

        return new ParentFrames([], recovered, index.FrameCount);
    }

    /// <summary>Per segmented frame, the bytes of the parent's chunks in each of its segments (null for the others).</summary>
    private static long[]?[] SegmentUse(Manifest parent, int[] segmentSizes)
    {
        var use = new long[]?[parent.Frames.Length];
        for (var c = 0; c < parent.Chunks.Length; c++)
        {
            var (frame, offset) = (parent.Locations[c].Frame, (long)parent.Locations[c].OffsetInFrame);
            var size = segmentSizes[frame];
            if (size == 0)
            {
                continue;
            }

            // A chunk's bytes count in the segment they lie in (an image block lies in one).
            var segments = use[frame] ??= new long[FrameSegments.CountOf((int)parent.Frames[frame].UncompressedLength, size)];
            var end = offset + parent.Chunks[c].Length;
            var (first, last) = FrameSegments.SegmentsOf(offset, parent.Chunks[c].Length, size);
            for (var s = first; s <= last; s++)
            {
                segments[s] += Math.Min(end, (s + 1L) * size) - Math.Max(offset, (long)s * size);
            }
        }

        return use;
    }
}
