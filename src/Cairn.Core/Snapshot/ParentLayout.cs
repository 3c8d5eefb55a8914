using Cairn.Manifests;
using Cairn.Repository;

namespace Cairn.Snapshot;

/// <summary>
/// How a run with a parent places the chunks it shares with it: where the parent has them, except in the parent's
/// frames that are mostly dead to it, whose chunks the run writes again.
/// </summary>
/// <remarks>
/// <para>A restore decompresses whole frames. Along a lineage every version leaves the blocks it replaced in its
/// ancestors' frames, so a deep descendant's blocks would end up spread over frames that mostly hold data no version
/// it needs still uses, and the bytes decompressed per byte restored would grow with the depth (measured before this:
/// 1.16 at depth 10 of a memory image changed 5 % per generation, and growing ~2 % per generation).</para>
/// <para>So a chunk the run finds in a frame where the parent uses less than half of the bytes is stored again, in a
/// new frame, and the run's manifest points at the new copy. The frames a version's restore decompresses are then at
/// least half its own data when the parent took them over, whatever the depth. The price is bounded as well: a
/// frame's chunks are copied only once changes have left at least half its bytes unused by the parent, and after
/// that the frame holds nothing the descendants use, so a lineage stores at most one extra copy per byte changed.
/// That holds for images, whose every block is read. A tree's unchanged files are not read: they keep their chunks
/// where the parent has them, and only the chunks of files read again move.</para>
/// <para>The parent's placement is taken over first: the run's dedup table would otherwise use whichever copy of a
/// chunk it loaded first, possibly an old one in a frame the parent has left, which no measure of the parent's frames
/// would see.</para>
/// </remarks>
internal static class ParentLayout
{
    /// <summary>
    /// Points <paramref name="index"/> at the parent's copy of each of its chunks, and returns the frames (as the
    /// index numbers them) in which the parent uses less than half of the bytes.
    /// </summary>
    public static HashSet<int> Apply(Manifest parent, ChunkIndex index)
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

        var sparse = new HashSet<int>();
        for (var f = 0; f < frames.Length; f++)
        {
            if (used[f] * 2 < parent.Frames[f].UncompressedLength)
            {
                sparse.Add(frames[f]);
            }
        }

        return sparse;
    }
}
