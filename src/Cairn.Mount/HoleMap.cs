using System.Collections.Concurrent;
using Cairn.Manifests;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;

namespace Cairn.Mount;

/// <summary>
/// Answers SEEK_DATA and SEEK_HOLE from the manifest alone, never from data: a file's data is what its chunk
/// references cover, and every gap between them is a hole. For an image that includes the blocks that were all zero
/// when snapshotted (not stored, so they read as zeros): a restore leaves them as holes too, and a copy (overlayfs
/// copy-up, <c>cp</c>, <c>tar --sparse</c>) that skips them writes the same file. A tree stores its zero chunks, so
/// only its files' real holes are holes. What the mount reports is thus what the restored file reports.
/// </summary>
internal sealed class HoleMap
{
    private readonly Manifest _manifest;

    /// <summary>
    /// Per sparse file, once SEEK_HOLE has landed in its data: the index of the first reference of each run of
    /// adjacent references (a data extent). The end of the extent holding an offset is then two binary searches
    /// away, where walking the references would take as many steps as the extent has chunks (a run of a memory
    /// image can hold hundreds of thousands of blocks). At most 4 bytes per reference, a third of what the manifest
    /// holds for it.
    /// </summary>
    private readonly ConcurrentDictionary<int, int[]> _extents = new();

    public HoleMap(Manifest manifest)
    {
        _manifest = manifest;
    }

    /// <summary>lseek(2) on regular entry <paramref name="entry"/>; 0 and <paramref name="position"/>, or a positive errno.</summary>
    public int Seek(int entry, long offset, FuseSeekWhence whence, out long position)
    {
        position = 0;
        var size = _manifest.Entries[entry].Size;
        switch (whence)
        {
            case FuseSeekWhence.Data or FuseSeekWhence.Hole when offset < 0 || offset >= size:
                // A negative offset is beyond the end too: what ext4 answers, so the restored file answers the same.
                return Errno.ENXIO;
            case FuseSeekWhence.Data:
                return SeekData(entry, offset, out position);
            case FuseSeekWhence.Hole:
                position = SeekHole(entry, offset);
                return 0;
            case FuseSeekWhence.Set when offset >= 0:
                position = offset;
                return 0;
            case FuseSeekWhence.End when offset <= long.MaxValue - size && size + offset >= 0:
                position = size + offset;
                return 0;
            default:
                // SEEK_CUR: the file position is the kernel's, which never asks. A result below 0, or an unknown whence.
                return Errno.EINVAL;
        }
    }

    private int SeekData(int entry, long offset, out long position)
    {
        var refs = _manifest.ChunkRefsOf(entry);
        var i = FileLayout.FirstOverlapping(_manifest, refs, offset);
        if (i == refs.Length)
        {
            // In the hole that runs to the end of the file.
            position = 0;
            return Errno.ENXIO;
        }

        position = Math.Max(offset, refs[i].Offset);
        return 0;
    }

    private long SeekHole(int entry, long offset)
    {
        ref readonly var e = ref _manifest.Entries[entry];
        if ((e.Traits & EntryTraits.Sparse) == 0)
        {
            // The references cover the file (the archiver sets the trait exactly when they do not): the only hole is
            // the end of file.
            return e.Size;
        }

        var refs = _manifest.ChunkRefsOf(entry);
        var i = FileLayout.FirstOverlapping(_manifest, refs, offset);
        if (i == refs.Length || refs[i].Offset > offset)
        {
            return offset;
        }

        var starts = _extents.GetOrAdd(entry, static (entry, manifest) => ExtentStarts(manifest, entry), _manifest);
        var found = starts.AsSpan().BinarySearch(i);
        var extent = found >= 0 ? found : ~found - 1;
        var last = (extent + 1 < starts.Length ? starts[extent + 1] : refs.Length) - 1;
        return End(refs[last]);
    }

    private static int[] ExtentStarts(Manifest manifest, int entry)
    {
        var refs = manifest.ChunkRefsOf(entry);
        var count = refs.IsEmpty ? 0 : 1;
        for (var i = 1; i < refs.Length; i++)
        {
            count += refs[i].Offset != FileLayout.End(manifest, refs[i - 1]) ? 1 : 0;
        }

        var starts = new int[count];
        for (int i = 0, n = 0; i < refs.Length; i++)
        {
            if (i == 0 || refs[i].Offset != FileLayout.End(manifest, refs[i - 1]))
            {
                starts[n++] = i;
            }
        }

        return starts;
    }

    private long End(ChunkRef r) => FileLayout.End(_manifest, r);
}
