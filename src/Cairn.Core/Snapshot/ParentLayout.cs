using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;

namespace Cairn.Snapshot;

/// <summary>
/// How a run with a parent places the chunks it shares with it: where the parent has them, except the chunks in the
/// parent's frames that are mostly dead to it, which the run writes again.
/// </summary>
/// <remarks>
/// <para>A restore decompresses whole frames. Along a lineage every version leaves the blocks it replaced in its
/// ancestors' frames, so a deep descendant's blocks would end up spread over frames that mostly hold data no version
/// it needs still uses, and the bytes decompressed per byte restored would grow with the depth (measured before this:
/// 1.16 at depth 10 of a memory image changed 5 % per generation, and growing ~2 % per generation).</para>
/// <para>So a chunk of the parent's that lies in a frame where the parent uses less than half of the bytes is
/// <em>movable</em>: when the run reads it, it stores it again, in a new frame next to its own data, and its manifest
/// points at the new copy. The frames a version's restore decompresses are then at least half its parent's data when
/// it took them over, whatever the depth.</para>
/// <para>What it costs. Within a lineage, a frame's chunks move only once changes have left at least half its bytes
/// unused, and after that the frame holds nothing the descendants use: at most one extra copy per byte changed. A
/// lineage whose first snapshot found its blocks in frames written by another lineage (dedup across the repository)
/// moves those it uses from the frames it uses less than half of, once. Only chunks the run reads move: a file the
/// run takes over unread (unchanged since the parent) keeps its chunks where the parent has them, and pins them
/// there for the rest of the run too, since a copy would go unused.</para>
/// <para>The parent's placement is taken over first: the run's dedup table would otherwise use whichever copy of a
/// chunk it loaded first, possibly an old one in a frame the parent has left, which no measure of the parent's frames
/// would see. Copies an interrupted run already made (packs no index object names yet) are used instead of making
/// them again.</para>
/// </remarks>
internal static class ParentLayout
{
    /// <summary>
    /// Points <paramref name="index"/> at the parent's copy of each of its chunks, and returns the movable ones: those in
    /// a frame of which the parent uses less than half, not already copied by an interrupted run. The set holds their
    /// <see cref="ContentId.IndexKey"/>s, as recovered pack indexes name chunks.
    /// </summary>
    public static HashSet<ContentId> Apply(Manifest parent, ChunkIndex index)
    {
        var frames = new int[parent.Frames.Length];
        var used = new long[parent.Frames.Length];
        for (var f = 0; f < frames.Length; f++)
        {
            frames[f] = index.AddManifestFrame(parent, f);
        }

        // The manifest's chunk table holds each chunk the parent uses once: its bytes count once in their frame.
        for (var c = 0; c < parent.Chunks.Length; c++)
        {
            var location = parent.Locations[c];
            var length = parent.Chunks[c].Length;
            used[location.Frame] += length;
            index.Place(parent.Chunks[c].Id, new ChunkSlot(frames[location.Frame], (int)location.OffsetInFrame, (int)length));
        }

        var movable = new HashSet<ContentId>();
        for (var c = 0; c < parent.Chunks.Length; c++)
        {
            var frame = parent.Locations[c].Frame;
            if (used[frame] * 2 < parent.Frames[frame].UncompressedLength)
            {
                movable.Add(parent.Chunks[c].Id.IndexKey);
            }
        }

        foreach (var (pack, packIndex) in index.RecoveredPacks)
        {
            foreach (var (id, slot) in index.SlotsIn(pack, packIndex))
            {
                if (movable.Remove(id.IndexKey))
                {
                    index.Place(id, slot);
                }
            }
        }

        return movable;
    }
}
