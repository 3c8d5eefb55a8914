using Cairn.Manifests;
using Cairn.Native.Hashing;

namespace Cairn.Restore;

/// <summary>
/// What a full restore reads and where each byte goes, as flat arrays (no per-chunk objects): the frames that hold
/// the snapshot's chunks in pack order, coalesced into ranged reads; the chunks of each frame and where they lie in
/// it; the (file, offset) destinations of each chunk — a chunk shared by several files is decoded once and written to
/// all of them.
/// Chunk references already satisfied (cloned from a base copy) are left out.
/// </summary>
public sealed class RestorePlan
{
    private int[] _frameOrder = [];
    private int[] _chunkStart = [];
    private int[] _chunks = [];
    private MessageRange[] _ranges = [];
    private int[] _destinationStart = [];
    private (int Entry, long Offset)[] _destinations = [];

    public IReadOnlyList<PackRead> Reads { get; private set; } = [];

    /// <summary>Plans the reads for every chunk reference of <paramref name="m"/> except those marked in <paramref name="done"/> (by reference index).</summary>
    public static RestorePlan Build(Manifest m, int maxReadSize, bool[]? done = null)
    {
        var plan = new RestorePlan();

        // Destinations of every chunk (counting sort by chunk).
        var destinationCount = new int[m.Chunks.Length + 1];
        for (var i = 0; i < m.Count; i++)
        {
            foreach (var r in Needed(m, i, done))
            {
                destinationCount[r.Chunk + 1]++;
            }
        }

        for (var c = 0; c < m.Chunks.Length; c++)
        {
            destinationCount[c + 1] += destinationCount[c];
        }

        plan._destinationStart = (int[])destinationCount.Clone();
        plan._destinations = new (int, long)[destinationCount[^1]];
        var fill = (int[])destinationCount.Clone();
        for (var i = 0; i < m.Count; i++)
        {
            foreach (var r in Needed(m, i, done))
            {
                plan._destinations[fill[r.Chunk]++] = (i, r.Offset);
            }
        }

        // Chunks of every frame, only those some file uses.
        var chunkCount = new int[m.Frames.Length + 1];
        for (var c = 0; c < m.Chunks.Length; c++)
        {
            if (plan._destinationStart[c + 1] > plan._destinationStart[c])
            {
                chunkCount[m.Locations[c].Frame + 1]++;
            }
        }

        for (var f = 0; f < m.Frames.Length; f++)
        {
            chunkCount[f + 1] += chunkCount[f];
        }

        plan._chunkStart = (int[])chunkCount.Clone();
        plan._chunks = new int[chunkCount[^1]];
        plan._ranges = new MessageRange[chunkCount[^1]];
        fill = (int[])chunkCount.Clone();
        for (var c = 0; c < m.Chunks.Length; c++)
        {
            if (plan._destinationStart[c + 1] > plan._destinationStart[c])
            {
                var slot = fill[m.Locations[c].Frame]++;
                plan._chunks[slot] = c;
                plan._ranges[slot] = new MessageRange((int)m.Locations[c].OffsetInFrame, (int)m.Chunks[c].Length);
            }
        }

        // Needed frames in pack order, coalesced into reads.
        plan._frameOrder = Enumerable.Range(0, m.Frames.Length)
            .Where(f => chunkCount[f + 1] > chunkCount[f])
            .OrderBy(f => m.Frames[f].Pack).ThenBy(f => m.Frames[f].Offset)
            .ToArray();
        plan.Reads = PackReads.Coalesce(m, plan._frameOrder, maxReadSize);
        plan.MaxFrameLength = plan._frameOrder.Length == 0 ? 0 : plan._frameOrder.Max(f => (int)m.Frames[f].UncompressedLength);
        return plan;
    }

    /// <summary>The chunk references of entry <paramref name="i"/> not marked done.</summary>
    private static IEnumerable<ChunkRef> Needed(Manifest m, int i, bool[]? done)
    {
        var e = m.Entries[i];
        if (e.Kind != EntryKind.Regular)
        {
            yield break;
        }

        for (var k = (int)e.First; k < e.First + e.Count; k++)
        {
            if (done is null || !done[k])
            {
                yield return m.ChunkRefs[k];
            }
        }
    }

    /// <summary>The largest uncompressed frame any read holds: the decode buffer size.</summary>
    public int MaxFrameLength { get; private set; }

    /// <summary>The longest read.</summary>
    public int MaxReadLength => Reads.Count == 0 ? 0 : Reads.Max(r => r.Length);

    public ReadOnlySpan<int> FramesOf(PackRead read) => _frameOrder.AsSpan(read.FirstFrame, read.FrameCount);

    public ReadOnlySpan<int> ChunksOf(int frame) => _chunks.AsSpan(_chunkStart[frame], _chunkStart[frame + 1] - _chunkStart[frame]);

    /// <summary>Where each of <see cref="ChunksOf"/> lies in the frame's uncompressed bytes, in the same order: what to decode and check.</summary>
    public ReadOnlySpan<MessageRange> RangesOf(int frame) => _ranges.AsSpan(_chunkStart[frame], _chunkStart[frame + 1] - _chunkStart[frame]);

    public ReadOnlySpan<(int Entry, long Offset)> DestinationsOf(int chunk) => _destinations.AsSpan(_destinationStart[chunk], _destinationStart[chunk + 1] - _destinationStart[chunk]);
}
