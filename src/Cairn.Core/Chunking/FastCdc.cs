using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Cairn.Native.Hashing;

namespace Cairn.Chunking;

/// <summary>
/// FastCDC content-defined chunking, 2020 variant (Xia et al., "The Design of Fast Content-Defined Chunking
/// for Data Deduplication Based Storage Systems", TPDS 2020): a gear rolling hash, cut-point skipping below the
/// minimum size, normalized chunking (a harder mask before the average size, an easier one after, level 2), and
/// rolling two bytes per loop step with pre-shifted tables. The exact gear table and masks are part of the
/// repository format (docs/format.md): changing them changes every chunk boundary.
/// </summary>
public sealed class FastCdc : IChunker
{
    private static readonly ulong[] s_gear = BuildGear();
    private static readonly ulong[] s_gearShifted = s_gear.Select(g => g << 1).ToArray();

    private readonly ulong _maskSmall;
    private readonly ulong _maskLarge;
    private readonly ulong _maskSmallShifted;
    private readonly ulong _maskLargeShifted;

    public FastCdc(ChunkerParameters parameters)
    {
        parameters.Validate();
        Parameters = parameters;
        var bits = int.Log2(parameters.AverageSize);
        _maskSmall = SpreadMask(bits + 2);
        _maskLarge = SpreadMask(bits - 2);
        _maskSmallShifted = _maskSmall << 1;
        _maskLargeShifted = _maskLarge << 1;
    }

    public ChunkerParameters Parameters { get; }

    public int MaxSize => Parameters.MaxSize;

    public int Alignment => 1;

    public bool ElidesZeroChunks => false;

    /// <summary>The 256 gear values (for the format tests).</summary>
    internal static ReadOnlySpan<ulong> Gear => s_gear;

    internal ulong MaskSmall => _maskSmall;

    internal ulong MaskLarge => _maskLarge;

    /// <inheritdoc/>
    /// <remarks>Returns 0 only when <paramref name="data"/> holds fewer than <see cref="ChunkerParameters.MaxSize"/> bytes with no cut point.</remarks>
    public int NextCut(ReadOnlySpan<byte> data, bool isFinal)
    {
        var n = data.Length;
        var p = Parameters;
        if (n <= p.MinSize)
        {
            return isFinal ? n : 0;
        }

        var limit = Math.Min(n, p.MaxSize);
        var cut = FindCut(data, limit);
        if (cut > 0)
        {
            return cut;
        }

        // No cut point before `limit`: a chunk of the maximum size, or the rest of the input at its end.
        return limit == p.MaxSize || isFinal ? limit : 0;
    }

    // Returns the chunk length (last byte index + 1), or 0 when no cut point lies below `limit`.
    private int FindCut(ReadOnlySpan<byte> data, int limit)
    {
        var p = Parameters;
        var normal = Math.Min(p.AverageSize, limit);
        ref var src = ref MemoryMarshal.GetReference(data);
        ref var gear = ref MemoryMarshal.GetArrayDataReference(s_gear);
        ref var gearShifted = ref MemoryMarshal.GetArrayDataReference(s_gearShifted);
        ulong fp = 0;
        var i = p.MinSize;

        // Two bytes per step. After the first byte of a pair the hash is "half a step behind", so it is tested
        // against the mask shifted left by one, as the 2020 paper does.
        for (; i + 1 < normal; i += 2)
        {
            fp = (fp << 2) + Unsafe.Add(ref gearShifted, Unsafe.Add(ref src, i));
            if ((fp & _maskSmallShifted) == 0)
            {
                return i + 1;
            }

            fp += Unsafe.Add(ref gear, Unsafe.Add(ref src, i + 1));
            if ((fp & _maskSmall) == 0)
            {
                return i + 2;
            }
        }

        for (; i + 1 < limit; i += 2)
        {
            fp = (fp << 2) + Unsafe.Add(ref gearShifted, Unsafe.Add(ref src, i));
            if ((fp & _maskLargeShifted) == 0)
            {
                return i + 1;
            }

            fp += Unsafe.Add(ref gear, Unsafe.Add(ref src, i + 1));
            if ((fp & _maskLarge) == 0)
            {
                return i + 2;
            }
        }

        return 0;
    }

    /// <summary>A mask with <paramref name="bits"/> one-bits spread evenly over the top 48 bits of the hash.</summary>
    internal static ulong SpreadMask(int bits)
    {
        ulong mask = 0;
        for (var j = 0; j < bits; j++)
        {
            mask |= 1UL << (63 - (j * 48 / bits));
        }

        return mask;
    }

    // gear[i] = the first 8 bytes, little-endian, of SHA-256("cairn.fastcdc.gear" || i), i as one byte.
    private static ulong[] BuildGear()
    {
        var table = new ulong[256];
        var seed = Encoding.ASCII.GetBytes("cairn.fastcdc.gear");
        var input = new byte[seed.Length + 1];
        seed.CopyTo(input, 0);
        Span<byte> digest = stackalloc byte[32];
        for (var i = 0; i < 256; i++)
        {
            input[^1] = (byte)i;
            Sha256.HashData(input, digest);
            table[i] = BinaryPrimitives.ReadUInt64LittleEndian(digest);
        }

        return table;
    }
}
