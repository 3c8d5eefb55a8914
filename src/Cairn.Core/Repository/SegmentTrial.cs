using Cairn.Format;

namespace Cairn.Repository;

/// <summary>
/// Decides, for one stream of chunks (an image), whether its frames are compressed in segments
/// (<see cref="FrameSegments"/>). Segments let a restore decompress only the parts of an inherited frame it needs,
/// so a lineage's depth adds less to its cost; but they lose what compression would have found across segment
/// boundaries, and how much depends on the data: at 128 KiB, most 2 MiB frames of a guest's memory lose between −1 %
/// and +1 %, a few (kernel structures) 13–29 %, and a file system's blocks 10 % (docs/images.md). So some frames are compressed both
/// ways, and the stream follows the latest verdict: the first frame, then one in <see cref="SegmentsInterval"/> while
/// segments win; while whole frames win, the trials come after 4 frames, then 8, 16, up to <see cref="MaxWholeInterval"/>,
/// so a memory image comes back to segments soon after a region that did not suit them, and a disk image, which they
/// never suit, pays for few trials (about 4 % more compression on a 300 MB file system image). Thread-safe: a
/// stream's frames are compressed in parallel.
/// </summary>
public sealed class SegmentTrial
{
    /// <summary>
    /// Uncompressed bytes per segment: zstd's largest block, so a segment is one block, and decoding a whole segmented
    /// frame builds as many entropy tables as decoding it unsegmented (measured on a full restore of a memory image:
    /// 64 KiB segments cost 4 % more CPU, 128 KiB 1 %).
    /// </summary>
    public const int SegmentSize = 128 << 10;

    /// <summary>Frames between two trials while segments win.</summary>
    public const int SegmentsInterval = 32;

    /// <summary>The most frames between two trials while whole frames win.</summary>
    public const int MaxWholeInterval = 64;

    private const int FirstWholeInterval = 4;

    /// <summary>Segments are kept while they cost at most this much more than the whole frame (1/64: 1.6 %).</summary>
    private const int ToleranceShift = 6;

    private readonly Lock _lock = new();
    private int _frames;
    private int _nextTrial;
    private int _wholeInterval;
    private bool _segments;
    private bool _judged;

    /// <summary>How the next frame is compressed: both ways (a trial), in segments, or whole.</summary>
    internal Choice Next()
    {
        lock (_lock)
        {
            // Until the first verdict is in, every frame is a trial: frames are compressed in parallel.
            return _frames++ == _nextTrial || !_judged ? Choice.Trial : _segments ? Choice.Segments : Choice.Whole;
        }
    }

    /// <summary>Records a trial's outcome; true when the segmented form is the one to keep.</summary>
    internal bool Judge(int wholeLength, int segmentedLength)
    {
        var keep = segmentedLength <= wholeLength + (wholeLength >> ToleranceShift);
        lock (_lock)
        {
            _segments = keep;
            _judged = true;
            _wholeInterval = keep ? 0 : Math.Clamp(_wholeInterval * 2, FirstWholeInterval, MaxWholeInterval);
            _nextTrial = _frames + (keep ? SegmentsInterval : _wholeInterval) - 1;
        }

        return keep;
    }

    internal enum Choice
    {
        Whole,
        Segments,
        Trial,
    }
}
