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
/// and a frame of it that happens to suit segments costs at most 6 frames of the wrong choice (the 3 before the next
/// trial, and the 3 before that trial's verdict counts: see <see cref="Lag"/>).
/// </summary>
/// <remarks>
/// The same stream is always cut the same way, so the same image makes the same packs: frames are compressed in
/// parallel, but a verdict is taken into account exactly <see cref="Lag"/> frames after its trial, waiting for it if
/// it is not in yet, never as soon as it happens to be. Until then every frame is a trial. Used by the one producer
/// of a <see cref="PackWriter"/>: not thread-safe.
/// </remarks>
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

    /// <summary>
    /// Frames between a trial and the frame that first follows its verdict: as many as the frames a writer compresses
    /// at once on a small host, so that its producer seldom waits for a verdict (on a larger one, only around trials).
    /// </summary>
    public const int Lag = 4;

    /// <summary>Segments are kept while they cost at most this much more than the whole frame (1/64: 1.6 %).</summary>
    private const int ToleranceShift = 6;

    private readonly Queue<(int Frame, Task<bool> Verdict)> _pending = new();
    private int _frames;
    private int _nextTrial;
    private int _interval; // 0 until the first verdict is taken in
    private bool _segments;

    /// <summary>
    /// How the stream's next frame is compressed: both ways (a trial: pass its verdict to <see cref="Started"/>), in
    /// segments, or whole. Takes in, in order, the verdicts of the trials at least <see cref="Lag"/> frames back.
    /// </summary>
    internal async ValueTask<Choice> NextAsync()
    {
        var frame = _frames++;
        while (_pending.TryPeek(out var trial) && trial.Frame <= frame - Lag)
        {
            _pending.Dequeue();
            Apply(await trial.Verdict.ConfigureAwait(false), frame);
        }

        return _interval == 0 || frame == _nextTrial ? Choice.Trial : _segments ? Choice.Segments : Choice.Whole;
    }

    /// <summary>The verdict of the trial <see cref="NextAsync"/> just chose: true when the segmented form was kept.</summary>
    internal void Started(Task<bool> verdict) => _pending.Enqueue((_frames - 1, verdict));

    /// <summary>Whether a trial keeps the segmented form: it costs at most 1/64 more than the whole frame.</summary>
    internal static bool Keeps(int wholeLength, int segmentedLength) => segmentedLength <= wholeLength + (wholeLength >> ToleranceShift);

    private void Apply(bool segments, int frame)
    {
        _interval = _interval > 0 && segments == _segments ? Math.Min(_interval * 2, MaxInterval) : FirstInterval;
        _segments = segments;
        _nextTrial = frame + _interval - 1;
    }

    internal enum Choice
    {
        Whole,
        Segments,
        Trial,
    }
}
