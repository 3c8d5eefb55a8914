using Cairn.Format;

namespace Cairn.Repository;

/// <summary>
/// Decides, for one stream of chunks (an image), whether its frames are compressed in segments
/// (<see cref="FrameSegments"/>). Segments let a restore decompress only the parts of an inherited frame it needs,
/// so a lineage's depth adds less to its cost; but they lose what compression would have found across segment
/// boundaries, and how much depends on the data, frame by frame: at 128 KiB, most 2 MiB frames of a guest's memory
/// lose between −1 % and +1 % and a few 13–29 %; most frames of a file system's blocks lose
/// 2–87 %, and one in thirteen less than 1.6 % (docs/images.md). So some frames are compressed both ways, and the
/// stream follows the latest verdict. A trial comes 4 frames after a verdict that changed the stream's course, and
/// each verdict that confirms it doubles the wait, up to <see cref="MaxInterval"/>: a memory image soon settles on
/// segments and comes back to them soon after a region that did not suit them; a disk image settles on whole frames,
/// and a frame of it that happens to suit segments costs at most 3 frames of the wrong choice. Thread-safe: a
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

    /// <summary>The most frames between two trials.</summary>
    public const int MaxInterval = 32;

    /// <summary>Frames between a verdict that changed the course and the next trial.</summary>
    public const int FirstInterval = 4;

    /// <summary>Segments are kept while they cost at most this much more than the whole frame (1/64: 1.6 %).</summary>
    private const int ToleranceShift = 6;

    private readonly Lock _lock = new();
    private int _frames;
    private int _nextTrial;
    private int _interval;
    private bool _segments;
    private int _judgedFrame = -1; // the frame of the latest verdict; -1: none yet

    /// <summary>How the next frame (number <paramref name="frame"/> of the stream) is compressed: both ways (a trial), in segments, or whole.</summary>
    internal Choice Next(out int frame)
    {
        lock (_lock)
        {
            frame = _frames++;

            // Until the first verdict is in, every frame is a trial: frames are compressed in parallel.
            return frame == _nextTrial || _judgedFrame < 0 ? Choice.Trial : _segments ? Choice.Segments : Choice.Whole;
        }
    }

    /// <summary>
    /// Records the outcome of the trial of frame <paramref name="frame"/>; true when the segmented form is the one to
    /// keep. Trials end out of order: one older than the latest verdict decides its own frame only.
    /// </summary>
    internal bool Judge(int frame, int wholeLength, int segmentedLength)
    {
        var keep = segmentedLength <= wholeLength + (wholeLength >> ToleranceShift);
        lock (_lock)
        {
            if (frame < _judgedFrame)
            {
                return keep;
            }

            _interval = _judgedFrame >= 0 && keep == _segments ? Math.Min(_interval * 2, MaxInterval) : FirstInterval;
            _judgedFrame = frame;
            _segments = keep;
            _nextTrial = _frames + _interval - 1;
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
