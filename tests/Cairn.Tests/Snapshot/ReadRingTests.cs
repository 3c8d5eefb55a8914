using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Cairn.Snapshot;

namespace Cairn.Tests.Snapshot;

/// <summary>
/// The ring small files are read into: slices handed out in order never overlap one still out, the bytes out never
/// exceed the ring, and a full ring makes the producer wait until the consumer gives back the oldest slice.
/// </summary>
public sealed class ReadRingTests
{
    [Fact]
    public async Task Slices_in_use_never_overlap_and_stay_within_the_ring()
    {
        const int Capacity = 1 << 20;
        const int MaxSlice = 256 << 10;
        using var ring = new ReadRing(Capacity, MaxSlice);
        var random = new Random(7);
        var outstanding = new Queue<(RingSlice Slice, long Start, long End)>();
        long wraps = 0;
        long? previousStart = null;
        var origin = -1L; // the ring's first byte: where the first slice from the empty ring starts

        for (var i = 0; i < 2_000; i++)
        {
            // Mostly small files, now and then a large one, like a source tree.
            var length = random.Next(10) == 0 ? random.Next(MaxSlice + 1) : random.Next(8 << 10);
            var acquire = ring.AcquireAsync(length, CancellationToken.None).AsTask();
            while (!acquire.IsCompleted && outstanding.Count > 0)
            {
                // Give back the oldest slice and let the waiting producer look again (it resumes on the thread pool).
                ring.Release(outstanding.Dequeue().Slice);
                SpinWait.SpinUntil(() => acquire.IsCompleted, 2);
            }

            // With nothing out, the slice must come.
            var slice = await acquire.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(length, slice.Memory.Length);
            origin = origin < 0 ? AddressOf(slice) : origin;
            var start = AddressOf(slice) - origin;
            var end = start + length;
            Assert.InRange(start, 0, Capacity);
            Assert.InRange(end, start, Capacity);
            foreach (var (_, s, e) in outstanding)
            {
                Assert.True(end <= s || start >= e || length == 0, $"slice [{start}, {end}) overlaps [{s}, {e}) still in use");
            }

            if (start < previousStart)
            {
                wraps++;
            }

            previousStart = start;
            outstanding.Enqueue((slice, start, end));
            Assert.True(outstanding.Sum(o => (long)o.Slice.Charge) <= Capacity);
            slice.Memory.Span.Fill((byte)i);
            if (random.Next(2) == 0)
            {
                ring.Release(outstanding.Dequeue().Slice);
            }
        }

        Assert.True(wraps > 20, $"the ring wrapped only {wraps} times: the test did not exercise it");
    }

    [Fact]
    public async Task A_full_ring_waits_for_the_oldest_slice()
    {
        using var ring = new ReadRing(256 << 10, 128 << 10);
        var first = await ring.AcquireAsync(128 << 10, CancellationToken.None);
        var second = await ring.AcquireAsync(128 << 10, CancellationToken.None);

        var third = ring.AcquireAsync(64 << 10, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(third.IsCompleted);

        ring.Release(first);
        var slice = await third.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(64 << 10, slice.Memory.Length);
        ring.Release(second);
        ring.Release(slice);
    }

    [Fact]
    public async Task A_wait_ends_when_cancelled()
    {
        using var ring = new ReadRing(128 << 10, 64 << 10);
        _ = await ring.AcquireAsync(64 << 10, CancellationToken.None);
        _ = await ring.AcquireAsync(64 << 10, CancellationToken.None);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await ring.AcquireAsync(1, cancel.Token));
    }

    [Fact]
    public async Task A_slice_longer_than_the_limit_is_refused()
    {
        using var ring = new ReadRing(1 << 20, 64 << 10);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await ring.AcquireAsync((64 << 10) + 1, CancellationToken.None));
    }

    // Also for an empty slice (where `fixed` would give null).
    private static unsafe long AddressOf(RingSlice slice) => (long)Unsafe.AsPointer(ref MemoryMarshal.GetReference(slice.Memory.Span));
}
