using Cairn.Manifests;

namespace Cairn.Mount;

/// <summary>Where file bytes are: which chunk references of a file cover a byte range.</summary>
internal static class FileLayout
{
    /// <summary>
    /// The index of the first reference in <paramref name="refs"/> that ends after <paramref name="offset"/>
    /// (binary search on <see cref="ChunkRef.Offset"/>; references are sorted and disjoint, gaps are holes).
    /// </summary>
    public static int FirstOverlapping(Manifest manifest, ReadOnlySpan<ChunkRef> refs, long offset)
    {
        int lo = 0, hi = refs.Length - 1, last = -1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) >> 1);
            if (refs[mid].Offset <= offset)
            {
                last = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        if (last < 0)
        {
            return 0;
        }

        return End(manifest, refs[last]) > offset ? last : last + 1;
    }

    /// <summary>The file offset just past the bytes of <paramref name="reference"/>.</summary>
    public static long End(Manifest manifest, ChunkRef reference) => reference.Offset + manifest.Chunks[reference.Chunk].Length;
}
