using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Cairn.Format;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of every compressed frame. Checked before a frame is handed to the
/// decompressor, so a flipped byte is reported as corruption instead of being fed to zstd. Uses the SSE4.2 /
/// ARMv8 CRC instructions through <see cref="BitOperations.Crc32C(uint, ulong)"/>.
/// </summary>
/// <remarks>
/// One CRC instruction waits for the one before it (three cycles on x86), and the CPU could start one every cycle.
/// So a long buffer is checksummed as three streams at once, 8 KiB each per round, and the three results are joined:
/// the CRC of A followed by B is the CRC of A carried over B's length in zeros, XOR the CRC of B from zero, both parts
/// being linear in the register. Carrying a register over 8 KiB of zeros is a linear map too: four table lookups,
/// tables built once from the 32 one-bit registers.
/// </remarks>
public static class Crc32C
{
    private const int StreamLength = 8 << 10;
    private const int Streams = 3;

    private static readonly uint[] s_carry = BuildCarryTables();

    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        if (data.Length >= Streams * StreamLength)
        {
            crc = UpdateInterleaved(crc, ref data);
        }

        return UpdateSerial(crc, data);
    }

    /// <summary>
    /// Consumes whole rounds of three streams from <paramref name="data"/>; the rest is left for the serial loop. The
    /// words are read in machine order, little-endian as everywhere in Cairn.
    /// </summary>
    private static uint UpdateInterleaved(uint crc, ref ReadOnlySpan<byte> data)
    {
        while (data.Length >= Streams * StreamLength)
        {
            var words = MemoryMarshal.Cast<byte, ulong>(data[..(Streams * StreamLength)]);
            var a = words[..(StreamLength / 8)];
            var b = words.Slice(StreamLength / 8, StreamLength / 8);
            var c = words.Slice(2 * StreamLength / 8, StreamLength / 8);
            uint crcB = 0, crcC = 0;
            for (var i = 0; i < a.Length; i++)
            {
                crc = BitOperations.Crc32C(crc, a[i]);
                crcB = BitOperations.Crc32C(crcB, b[i]);
                crcC = BitOperations.Crc32C(crcC, c[i]);
            }

            crc = Carry(Carry(crc) ^ crcB) ^ crcC;
            data = data[(Streams * StreamLength)..];
        }

        return crc;
    }

    private static uint UpdateSerial(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }

    /// <summary>The register <paramref name="crc"/> carried over <see cref="StreamLength"/> zero bytes.</summary>
    private static uint Carry(uint crc)
    {
        var t = s_carry;
        return t[(int)(crc & 0xFF)] ^ t[256 + (int)((crc >> 8) & 0xFF)] ^ t[512 + (int)((crc >> 16) & 0xFF)] ^ t[768 + (int)(crc >> 24)];
    }

    /// <summary>Table k maps a byte v to the register (v at byte k) carried over <see cref="StreamLength"/> zeros.</summary>
    private static uint[] BuildCarryTables()
    {
        Span<uint> bit = stackalloc uint[32];
        for (var i = 0; i < 32; i++)
        {
            var crc = 1u << i;
            for (var n = 0; n < StreamLength / 8; n++)
            {
                crc = BitOperations.Crc32C(crc, 0UL);
            }

            bit[i] = crc;
        }

        var tables = new uint[4 * 256];
        for (var k = 0; k < 4; k++)
        {
            for (var v = 1; v < 256; v++)
            {
                var lowest = BitOperations.TrailingZeroCount(v);
                tables[(k * 256) + v] = tables[(k * 256) + (v & (v - 1))] ^ bit[(8 * k) + lowest];
            }
        }

        return tables;
    }
}
