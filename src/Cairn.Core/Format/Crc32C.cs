using System.Buffers.Binary;
using System.Numerics;

namespace Cairn.Format;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of every compressed frame. Checked before a frame is handed to the
/// decompressor, so a flipped byte is reported as corruption instead of being fed to zstd. Uses the SSE4.2 /
/// ARMv8 CRC instructions through <see cref="BitOperations.Crc32C(uint, ulong)"/>.
/// </summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
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
}
