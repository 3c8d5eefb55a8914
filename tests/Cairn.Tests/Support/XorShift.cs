using System.Buffers.Binary;

namespace Cairn.Tests.Support;

/// <summary>
/// Reproducible pseudo-random bytes for format pins, independent of .NET's <see cref="Random"/> (whose algorithm may
/// change): xorshift64 (Marsaglia 2003: x ^= x &lt;&lt; 13; x ^= x &gt;&gt; 7; x ^= x &lt;&lt; 17), each new state written
/// as 8 bytes little-endian.
/// </summary>
internal static class XorShift
{
    public static byte[] Bytes(int length, ulong seed)
    {
        var bytes = new byte[length];
        Span<byte> word = stackalloc byte[8];
        var x = seed;
        for (var i = 0; i < length; i += 8)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(word, x);
            word[..Math.Min(8, length - i)].CopyTo(bytes.AsSpan(i));
        }

        return bytes;
    }
}
