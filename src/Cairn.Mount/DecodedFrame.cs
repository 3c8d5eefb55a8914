using System.Buffers;

namespace Cairn.Mount;

/// <summary>
/// A decompressed frame (or a piece of one: <see cref="Start"/>) in a pooled buffer, reference-counted: every holder
/// (a read in progress, the memory cache, the fetch that produced it, the pusher) owns one reference, and the buffer
/// goes back to the pool when the last is released.
/// </summary>
internal sealed class DecodedFrame
{
    private readonly byte[] _buffer;
    private int _references = 1;

    public DecodedFrame(int frame, int length, int start = 0)
    {
        Frame = frame;
        Start = start;
        Length = length;
        _buffer = ArrayPool<byte>.Shared.Rent(length);
    }

    public int Frame { get; }

    /// <summary>Where <see cref="Data"/> begins in the frame's bytes: 0, except for a piece of a frame (see FramePusher).</summary>
    public int Start { get; }

    public int Length { get; }

    /// <summary>The frame's bytes; only valid while the caller holds a reference.</summary>
    public Span<byte> Data => _buffer.AsSpan(0, Length);

    /// <summary>Takes one more reference; false if the frame was already released (its buffer may be reused).</summary>
    public bool TryAddReference()
    {
        var current = Volatile.Read(ref _references);
        while (current > 0)
        {
            var seen = Interlocked.CompareExchange(ref _references, current + 1, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }

        return false;
    }

    public void Release()
    {
        var left = Interlocked.Decrement(ref _references);
        if (left == 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        else if (left < 0)
        {
            throw new InvalidOperationException($"frame {Frame} was released more often than referenced");
        }
    }
}
