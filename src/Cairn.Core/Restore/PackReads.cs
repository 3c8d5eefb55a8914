using Cairn.Manifests;

namespace Cairn.Restore;

/// <summary>One ranged read: a run of frames of one pack, fetched together (<see cref="FirstFrame"/> indexes the frame order it was built from).</summary>
public readonly record struct PackRead(int Pack, long Offset, int Length, int FirstFrame, int FrameCount);

/// <summary>Groups frames into ranged reads: what a full restore fetches, and what a mount hydrates or prefetches.</summary>
public static class PackReads
{
    // Frames closer than this are read together rather than as two requests.
    private const int MaxGap = 256 << 10;

    /// <summary>
    /// Coalesces <paramref name="frameOrder"/> (frame indexes, best sorted by pack and offset) into reads of at most
    /// <paramref name="maxReadSize"/> bytes: consecutive frames of one pack separated by small gaps become one read.
    /// </summary>
    public static List<PackRead> Coalesce(Manifest m, ReadOnlySpan<int> frameOrder, int maxReadSize)
    {
        var reads = new List<PackRead>();
        var start = 0;
        for (var k = 1; k <= frameOrder.Length; k++)
        {
            if (k < frameOrder.Length)
            {
                var first = m.Frames[frameOrder[start]];
                var previous = m.Frames[frameOrder[k - 1]];
                var next = m.Frames[frameOrder[k]];
                var previousEnd = previous.Offset + previous.CompressedLength;
                if (next.Pack == first.Pack && next.Offset >= previousEnd && next.Offset - previousEnd <= MaxGap && next.Offset + next.CompressedLength - first.Offset <= maxReadSize)
                {
                    continue;
                }
            }

            var head = m.Frames[frameOrder[start]];
            var tail = m.Frames[frameOrder[k - 1]];
            reads.Add(new PackRead((int)head.Pack, head.Offset, (int)(tail.Offset + tail.CompressedLength - head.Offset), start, k - start));
            start = k;
        }

        return reads;
    }
}
