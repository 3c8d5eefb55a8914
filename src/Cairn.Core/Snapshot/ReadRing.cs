using Cairn.Buffers;

namespace Cairn.Snapshot;

/// <summary>A piece of a <see cref="ReadRing"/>: <see cref="Memory"/> to read into, given back with <see cref="ReadRing.Release"/>.</summary>
internal readonly record struct RingSlice(Memory<byte> Memory, int Charge);

/// <summary>
/// The memory small files are read into ahead of the packer: one buffer of fixed size, handed out first-in first-out.
/// The dispatcher takes slices in walk order and the packer gives them back in the same order, so the free space is
/// always one contiguous run after the newest slice (wrapping once at the end), and the bytes read ahead are bounded
/// by the buffer itself.
/// </summary>
/// <remarks>
/// It replaces pooled arrays (<c>ArrayPool.Shared</c>) with a byte budget: the budget bounded the bytes in use, but the
/// pool kept every array it was given back, per size class and per core, so the memory held grew with the variety of
/// file sizes a tree has (measured on <c>ws</c>: 20–35 MiB more heap by the end of a run). One producer and one
/// consumer; <see cref="AcquireAsync"/> waits for space, never fails for want of it (a slice is at most half the ring).
/// </remarks>
internal sealed class ReadRing : IDisposable
{
    // Slices start on a cache-line multiple: the kernel's copy into user memory is slow to unaligned addresses.
    private const int Alignment = 64;

    private readonly PageAlignedBuffer _buffer;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    private int _head;
    private long _used;
    private TaskCompletionSource? _waiter;

    public ReadRing(int capacity, int maxSlice)
    {
        _capacity = Math.Max(capacity, 2 * Align(maxSlice));
        _buffer = new PageAlignedBuffer(_capacity);
        MaxSlice = maxSlice;
    }

    /// <summary>The largest slice <see cref="AcquireAsync"/> hands out.</summary>
    public int MaxSlice { get; }

    /// <summary>Waits until <paramref name="length"/> bytes are free after the newest slice, and takes them.</summary>
    public async ValueTask<RingSlice> AcquireAsync(int length, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, MaxSlice);
        var size = Align(Math.Max(length, 1));
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (_used == 0)
                {
                    _head = 0; // nothing outstanding: start over at the front, no wrap needed
                }

                var offset = _head + size <= _capacity ? _head : 0;

                // A slice that does not fit before the end starts over at the front; the skipped tail is charged to it.
                var charge = offset == _head ? size : _capacity - _head + size;
                if (charge <= _capacity - _used)
                {
                    _used += charge;
                    _head = offset + size;
                    return new RingSlice(_buffer.Memory.Slice(offset, length), charge);
                }

                _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _waiter.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Gives back the oldest slice still out.</summary>
    public void Release(RingSlice slice)
    {
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            _used -= slice.Charge;
            waiter = _waiter;
            _waiter = null;
        }

        waiter?.TrySetResult();
    }

    /// <summary>Unmaps the ring. Only once no read into it can still be running.</summary>
    public void Dispose() => _buffer.Dispose();

    private static int Align(int length) => (length + Alignment - 1) / Alignment * Alignment;
}
