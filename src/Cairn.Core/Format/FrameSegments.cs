using System.Buffers.Binary;
using Cairn.Native.Zstd;

namespace Cairn.Format;

/// <summary>
/// A frame compressed as independent segments, so a reader can decompress only the parts it needs (docs/format.md,
/// "Segmented frames"). The frame's bytes are a zstd skippable frame holding the segment table, followed by one zstd
/// frame per segment of <c>segmentSize</c> uncompressed bytes (the last one shorter). zstd itself decodes the whole
/// of it as usual: it skips skippable frames and concatenates the others, so a reader that ignores the table still
/// reads it right.
/// </summary>
/// <remarks>
/// Why: a lineage's snapshot inherits its parent's frames, and where the child replaced part of a frame its restore
/// still decompressed the whole frame. With segments, the bytes it decompresses follow the bytes it needs, whatever
/// the depth. The price is the compression lost at the segment boundaries, which is why the writer uses them only where
/// a trial shows they cost almost nothing (<c>SegmentTrial</c>).
/// </remarks>
public static class FrameSegments
{
    /// <summary>The magic of the skippable frame that holds the table (zstd's skippable range, last nibble 0xE).</summary>
    public const uint Magic = 0x184D2A5E;

    /// <summary>The smallest segment: a page. Segment sizes are multiples of it.</summary>
    public const int MinSegmentSize = 4096;

    /// <summary>The first bytes of a frame that say whether it is segmented, and in what size (<see cref="SegmentSizeOf"/>).</summary>
    public const int HeadSize = 12;

    // magic | u32 payload length | u32 segment size | u32 segment count, then a u32 compressed length per segment.
    private const int FixedHeaderSize = 16;

    /// <summary>The segments a frame of <paramref name="length"/> bytes is cut into.</summary>
    public static int CountOf(int length, int segmentSize) => (int)(((long)length + segmentSize - 1) / segmentSize);

    /// <summary>The first and last segments that hold bytes of <paramref name="offset"/> .. <paramref name="offset"/> + <paramref name="length"/> - 1 (<paramref name="length"/> &gt; 0).</summary>
    public static (int First, int Last) SegmentsOf(long offset, long length, int segmentSize) =>
        ((int)(offset / segmentSize), (int)((offset + length - 1) / segmentSize));

    /// <summary>The uncompressed length of segment <paramref name="segment"/> of a frame of <paramref name="frameLength"/> bytes: the last one may be shorter.</summary>
    public static int LengthOf(int segment, int segmentSize, long frameLength) =>
        (int)Math.Min(segmentSize, frameLength - ((long)segment * segmentSize));

    private static bool IsValidSize(uint size) => size is >= MinSegmentSize and <= int.MaxValue && size % MinSegmentSize == 0;

    /// <summary>The largest a frame of <paramref name="length"/> bytes can compress to in segments of <paramref name="segmentSize"/>.</summary>
    public static int MaxCompressedLength(int length, int segmentSize)
    {
        var count = CountOf(length, segmentSize);
        return checked(HeaderSize(count) + ((count - 1) * ZstdEncoder.GetMaxCompressedLength(segmentSize)) + ZstdEncoder.GetMaxCompressedLength(length - ((count - 1) * segmentSize)));
    }

    private static int HeaderSize(int count) => FixedHeaderSize + (4 * count);

    /// <summary>Compresses <paramref name="input"/> in segments into <paramref name="output"/> (at least <see cref="MaxCompressedLength"/>); returns the length written.</summary>
    public static int Compress(ZstdEncoder encoder, ReadOnlySpan<byte> input, int segmentSize, Span<byte> output)
    {
        if (segmentSize <= 0 || !IsValidSize((uint)segmentSize) || input.IsEmpty)
        {
            throw new ArgumentOutOfRangeException(nameof(segmentSize), segmentSize, "a positive multiple of 4096, and some input");
        }

        var count = CountOf(input.Length, segmentSize);
        var written = HeaderSize(count);
        BinaryPrimitives.WriteUInt32LittleEndian(output, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(output[4..], (uint)(written - 8));
        BinaryPrimitives.WriteUInt32LittleEndian(output[8..], (uint)segmentSize);
        BinaryPrimitives.WriteUInt32LittleEndian(output[12..], (uint)count);
        for (var i = 0; i < count; i++)
        {
            var length = encoder.Compress(input.Slice(i * segmentSize, LengthOf(i, segmentSize, input.Length)), output[written..]);
            BinaryPrimitives.WriteUInt32LittleEndian(output[(FixedHeaderSize + (4 * i))..], (uint)length);
            written += length;
        }

        return written;
    }

    /// <summary>
    /// The segment size a frame's first <see cref="HeadSize"/> bytes declare (0 when they hold no segment table, or an invalid size). Enough
    /// to know which bytes decode together without reading the table (the reader checks the rest when it decodes).
    /// </summary>
    public static int SegmentSizeOf(ReadOnlySpan<byte> head)
    {
        if (head.Length < HeadSize || !IsSegmented(head))
        {
            return 0;
        }

        var size = BinaryPrimitives.ReadUInt32LittleEndian(head[8..]);
        return IsValidSize(size) ? (int)size : 0;
    }

    /// <summary>True when <paramref name="compressed"/> starts with a segment table (it may still be invalid: see <see cref="TryRead"/>).</summary>
    public static bool IsSegmented(ReadOnlySpan<byte> compressed) =>
        compressed.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(compressed) == Magic;

    /// <summary>
    /// Reads the table of a segmented frame of <paramref name="uncompressedLength"/> bytes: false unless it is
    /// well-formed and its segments fill the frame exactly. <paramref name="lengths"/> are the compressed lengths;
    /// the first segment starts at <paramref name="firstOffset"/>.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> compressed, int uncompressedLength, out int segmentSize, out ReadOnlySpan<byte> lengths, out int firstOffset)
    {
        segmentSize = 0;
        lengths = default;
        firstOffset = 0;
        if (compressed.Length < FixedHeaderSize || !IsSegmented(compressed))
        {
            return false;
        }

        var size = BinaryPrimitives.ReadUInt32LittleEndian(compressed[8..]);
        var count = BinaryPrimitives.ReadUInt32LittleEndian(compressed[12..]);
        if (!IsValidSize(size) || uncompressedLength <= 0 ||
            count != (ulong)CountOf(uncompressedLength, (int)size) ||
            BinaryPrimitives.ReadUInt32LittleEndian(compressed[4..]) != 8 + (4 * (ulong)count) ||
            (ulong)compressed.Length < FixedHeaderSize + (4 * (ulong)count))
        {
            return false;
        }

        var table = compressed.Slice(FixedHeaderSize, 4 * (int)count);
        var total = (ulong)(FixedHeaderSize + table.Length);
        for (var i = 0; i < table.Length; i += 4)
        {
            total += BinaryPrimitives.ReadUInt32LittleEndian(table[i..]);
        }

        if (total != (ulong)compressed.Length)
        {
            return false;
        }

        segmentSize = (int)size;
        lengths = table;
        firstOffset = FixedHeaderSize + table.Length;
        return true;
    }

    /// <summary>
    /// Decompresses the segments of <paramref name="compressed"/> that hold any byte of <paramref name="needed"/> into
    /// their places in <paramref name="output"/>; the bytes of the other segments are left as they were. Returns the
    /// bytes decompressed, or -1 with <paramref name="error"/> when the table or a segment is corrupt.
    /// </summary>
    public static long DecodeNeeded(ZstdDecoder decoder, ReadOnlySpan<byte> compressed, Span<byte> output, ReadOnlySpan<Native.Hashing.MessageRange> needed, out string? error)
    {
        if (!TryRead(compressed, output.Length, out var segmentSize, out var lengths, out var offset))
        {
            error = "invalid segment table";
            return -1;
        }

        var count = lengths.Length / 4;
        var words = (count + 63) / 64;
        Span<ulong> wanted = words <= 64 ? stackalloc ulong[words] : new ulong[words];
        wanted.Clear();
        foreach (var range in needed)
        {
            if (range.Length <= 0)
            {
                continue;
            }

            if (range.Offset < 0 || range.Offset + (long)range.Length > output.Length)
            {
                error = $"a needed range ({range.Offset}+{range.Length}) lies outside the frame";
                return -1;
            }

            var (first, last) = SegmentsOf(range.Offset, range.Length, segmentSize);
            for (var s = first; s <= last; s++)
            {
                wanted[s >> 6] |= 1UL << (s & 63);
            }
        }

        long decoded = 0;
        var start = offset;
        for (var s = 0; s < count; s++)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(lengths[(4 * s)..]);
            if ((wanted[s >> 6] & (1UL << (s & 63))) != 0)
            {
                var into = output.Slice(s * segmentSize, LengthOf(s, segmentSize, output.Length));
                if (!decoder.TryDecompress(compressed.Slice(start, length), into, out var written, out error) || written != into.Length)
                {
                    error ??= $"segment {s} has the wrong length";
                    return -1;
                }

                decoded += written;
            }

            start += length;
        }

        error = null;
        return decoded;
    }
}
