using System.Globalization;
using Cairn.Buffers;

namespace Cairn.Tests.Buffers;

/// <summary>
/// The large I/O buffers are anonymous mappings: page-aligned, usable through Span and Memory, and gone from the
/// process's address space once disposed (that is what lets a snapshot's resident memory fall after packing).
/// </summary>
/// <remarks>
/// "Gone" is read from /proc/self/maps, which a mapping made by another thread at the freed address would fool; so
/// these tests run alone (no other test class in parallel) and use sizes no other part of the process maps.
/// </remarks>
[Collection(Name)]
public sealed class PageAlignedBufferTests
{
    public const string Name = "mappings";

    // 5 MiB and 3 pages: not the size of any buffer the runtime or Cairn maps.
    private const int OddSize = (5 << 20) + 3 * PageAlignedBuffer.PageSize;

    [Fact]
    public unsafe void A_buffer_is_page_aligned_and_holds_what_is_written()
    {
        using var buffer = new PageAlignedBuffer(3 * PageAlignedBuffer.PageSize + 5);

        fixed (byte* p = buffer.Span)
        {
            Assert.Equal(0, (long)p % PageAlignedBuffer.PageSize);
        }

        Assert.Equal(3 * PageAlignedBuffer.PageSize + 5, buffer.Span.Length);
        Assert.Equal(buffer.Length, buffer.Memory.Length);
        buffer.Memory.Span.Fill(0xA5);
        Assert.True(buffer.Span.IndexOfAnyExcept((byte)0xA5) < 0);
    }

    [Fact]
    public void A_disposed_buffer_is_unmapped_and_refuses_access()
    {
        var buffer = new PageAlignedBuffer(OddSize);
        var address = AddressOf(buffer);
        Assert.True(IsMapped(address));

        buffer.Dispose();

        Assert.False(IsMapped(address));
        Assert.Throws<ObjectDisposedException>(() => buffer.Span.Length);
    }

    [Fact]
    public void A_zero_length_buffer_is_allowed()
    {
        using var buffer = new PageAlignedBuffer(0);
        Assert.True(buffer.Span.IsEmpty);
    }

    [Fact]
    public void The_pool_reuses_returned_buffers_and_unmaps_all_of_them_when_disposed()
    {
        var pool = new FixedBufferPool(OddSize);
        var first = pool.Rent();
        pool.Return(first);
        Assert.Same(first, pool.Rent());
        var second = pool.Rent();
        Assert.NotSame(first, second);
        var addresses = new[] { AddressOf(first), AddressOf(second) };

        pool.Dispose(); // both are still rented: the owner is done with them all the same

        Assert.All(addresses, a => Assert.False(IsMapped(a)));
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
        pool.Return(second); // late returns after disposal are ignored
    }

    [Fact]
    public void The_pool_refuses_a_buffer_of_another_size()
    {
        using var pool = new FixedBufferPool(8192);
        using var other = new PageAlignedBuffer(4096);
        Assert.Throws<ArgumentException>(() => pool.Return(other));
    }

    private static unsafe ulong AddressOf(PageAlignedBuffer buffer)
    {
        fixed (byte* p = buffer.Span)
        {
            return (ulong)p;
        }
    }

    // Whether any mapping of this process covers the address (/proc/self/maps: "start-end perms ...", hexadecimal).
    private static bool IsMapped(ulong address)
    {
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var range = line.AsSpan(0, line.IndexOf(' '));
            var dash = range.IndexOf('-');
            var start = ulong.Parse(range[..dash], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var end = ulong.Parse(range[(dash + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (address >= start && address < end)
            {
                return true;
            }
        }

        return false;
    }
}

[CollectionDefinition(PageAlignedBufferTests.Name, DisableParallelization = true)]
public sealed class MappingsDefinition;
