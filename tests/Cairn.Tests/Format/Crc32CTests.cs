using Cairn.Format;

namespace Cairn.Tests.Format;

/// <summary>CRC-32C against its check value and a bit-by-bit reference, on both sides of the three-stream rounds.</summary>
public sealed class Crc32CTests
{
    [Fact]
    public void The_check_value_of_the_catalogue()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    [Fact]
    public void Agrees_with_a_bitwise_reference_at_lengths_around_the_rounds()
    {
        var random = new Random(7);
        var data = new byte[(3 * 3 * 8192) + 64];
        random.NextBytes(data);
        int[] lengths = [1, 7, 8, 9, 4095, (3 * 8192) - 1, 3 * 8192, (3 * 8192) + 1, (3 * 8192) + 8, 2 * 3 * 8192, (2 * 3 * 8192) + 13, 3 * 3 * 8192];
        foreach (var length in lengths)
        {
            for (var offset = 0; offset < 4; offset++)
            {
                var input = data.AsSpan(offset, length);
                Assert.True(Reference(input) == Crc32C.Compute(input), $"length {length} at offset {offset}");
            }
        }
    }

    [Fact]
    public void A_flipped_bit_in_any_stream_changes_the_checksum()
    {
        var data = new byte[3 * 8192];
        new Random(8).NextBytes(data);
        var clean = Crc32C.Compute(data);
        foreach (var at in new[] { 0, 8191, 8192, 16383, 16384, 24575 })
        {
            data[at] ^= 0x10;
            Assert.NotEqual(clean, Crc32C.Compute(data));
            data[at] ^= 0x10;
        }

        Assert.Equal(clean, Crc32C.Compute(data));
    }

    private static uint Reference(ReadOnlySpan<byte> data)
    {
        var crc = ~0u;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }

        return ~crc;
    }
}
