using System.Buffers.Binary;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Hashing;
using Cairn.Native.Zstd;

namespace Cairn.Tests.Format;

/// <summary>
/// Segmented frames (docs/format.md, "Segmented frames"): whole decodes as plain zstd, partial decodes touch only the
/// segments asked for, and a table that does not describe its frame is refused, never trusted.
/// </summary>
public sealed class FrameSegmentsTests
{
    private const int Segment = 128 << 10;

    [Theory]
    [InlineData(Segment + 1)]
    [InlineData((2 << 20) + 12345)]
    [InlineData(3 * Segment)]
    public void A_whole_decode_gives_back_the_input_through_the_table_and_through_plain_zstd(int length)
    {
        var input = PageLike(length, seed: length);
        var compressed = Compress(input);

        Assert.True(FrameSegments.IsSegmented(compressed));
        var output = new byte[length];
        var decoded = FrameCodec.Decode(compressed, Record(compressed, length), output, "test", needed: default);
        Assert.Equal(length, decoded);
        Assert.Equal(input, output);

        // zstd skips the table (a skippable frame) and concatenates the segments: a reader that knows nothing of
        // segments reads the frame right.
        using var decoder = new ZstdDecoder();
        Array.Clear(output);
        Assert.True(decoder.TryDecompress(compressed, output, out var written, out _));
        Assert.Equal(length, written);
        Assert.Equal(input, output);
    }

    [Fact]
    public void A_partial_decode_writes_only_the_segments_that_hold_the_ranges_asked_for()
    {
        const int length = (5 * Segment) + 4096;
        var input = PageLike(length, seed: 3);
        var compressed = Compress(input);
        var output = new byte[length];
        Array.Fill(output, (byte)0xEE);

        // A range inside segment 1, one across the boundary of segments 3 and 4, one in the short last segment.
        MessageRange[] needed = [new(Segment + 100, 4096), new((4 * Segment) - 2048, 4096), new((5 * Segment) + 10, 100)];
        var decoded = FrameCodec.Decode(compressed, Record(compressed, length), output, "test", needed);

        Assert.Equal((3L * Segment) + 4096, decoded);
        for (var s = 0; s * Segment < length; s++)
        {
            var range = new Range(s * Segment, Math.Min((s + 1) * Segment, length));
            if (s is 1 or 3 or 4 or 5)
            {
                Assert.True(input.AsSpan(range).SequenceEqual(output.AsSpan(range)), $"segment {s} decoded wrong");
            }
            else
            {
                Assert.True(!output.AsSpan(range).ContainsAnyExcept((byte)0xEE), $"segment {s} was decoded, though not asked for");
            }
        }
    }

    [Fact]
    public void A_frame_without_a_table_decodes_whole_whatever_is_asked()
    {
        var input = PageLike(3 * Segment, seed: 4);
        using var encoder = new ZstdEncoder(3);
        var compressed = new byte[ZstdEncoder.GetMaxCompressedLength(input.Length)];
        compressed = compressed[..encoder.Compress(input, compressed)];
        var output = new byte[input.Length];

        Assert.False(FrameSegments.IsSegmented(compressed));
        Assert.Equal(input.Length, FrameCodec.Decode(compressed, Record(compressed, input.Length), output, "test", [new(0, 4096)]));
        Assert.Equal(input, output);
    }

    public static TheoryData<string> Tamperings => ["count", "payload length", "segment size", "segment size, same count", "size not a page multiple", "lengths traded", "length longer", "range outside", "lengths traded, whole decode"];

    [Theory]
    [MemberData(nameof(Tamperings))]
    public void A_table_that_does_not_describe_its_frame_is_refused(string tampering)
    {
        const int length = 3 * Segment;
        var compressed = Compress(PageLike(length, seed: 5));
        MessageRange[] needed = [new(0, length)];
        switch (tampering)
        {
            case "count":
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(12), 4);
                break;
            case "payload length":
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(4), 8 + (4 * 4));
                break;
            case "segment size":
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(8), 2 * Segment);
                break;
            case "segment size, same count":
                // ceil(3 × 128 / 160) is still 3: only the segments' own lengths can tell.
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(8), 160 << 10);
                break;
            case "size not a page multiple":
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(8), Segment + 1);
                break;
            case "lengths traded":
                // The same total, so only the segments' own lengths can tell.
                var a = BinaryPrimitives.ReadUInt32LittleEndian(compressed.AsSpan(16));
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(16), a - 10);
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(20), BinaryPrimitives.ReadUInt32LittleEndian(compressed.AsSpan(20)) + 10);
                break;
            case "length longer":
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(16), BinaryPrimitives.ReadUInt32LittleEndian(compressed.AsSpan(16)) + 1);
                break;
            case "range outside":
                needed = [new(length - 4096, 8192)];
                break;
            case "lengths traded, whole decode":
                // zstd alone would decode the frame right, skipping the table: a whole decode checks it all the same.
                var first = BinaryPrimitives.ReadUInt32LittleEndian(compressed.AsSpan(16));
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(16), first + 1);
                BinaryPrimitives.WriteUInt32LittleEndian(compressed.AsSpan(20), BinaryPrimitives.ReadUInt32LittleEndian(compressed.AsSpan(20)) - 1);
                needed = [];
                break;
        }

        // The checksum is of the bytes as tampered: the table itself must be what gives the frame away.
        var e = Assert.Throws<CorruptDataException>(() => FrameCodec.Decode(compressed, Record(compressed, length), new byte[length], "pack p", needed));
        Assert.Contains("pack p: frame at offset 16 does not decompress", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compressing_refuses_a_segment_size_that_is_not_a_page_multiple_and_empty_input()
    {
        using var encoder = new ZstdEncoder(3);
        var output = new byte[1 << 20];
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameSegments.Compress(encoder, new byte[100_000], 5000, output));
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameSegments.Compress(encoder, new byte[100_000], 0, output));
        Assert.Throws<ArgumentOutOfRangeException>(() => FrameSegments.Compress(encoder, [], Segment, output));
    }

    private static byte[] Compress(byte[] input)
    {
        using var encoder = new ZstdEncoder(3);
        var output = new byte[FrameSegments.MaxCompressedLength(input.Length, Segment)];
        return output[..FrameSegments.Compress(encoder, input, Segment, output)];
    }

    private static FrameRecord Record(byte[] compressed, int length) =>
        new() { Offset = 16, CompressedLength = (uint)compressed.Length, UncompressedLength = (uint)length, Checksum = Crc32C.Compute(compressed) };

    /// <summary>Compressible data, each 4 KiB page drawn from a few kinds: words, zeros with a header, random bytes.</summary>
    private static byte[] PageLike(int length, int seed)
    {
        var random = new Random(seed);
        var data = new byte[length];
        for (var page = 0; page < length; page += 4096)
        {
            var span = data.AsSpan(page, Math.Min(4096, length - page));
            switch (random.Next(3))
            {
                case 0:
                    for (var i = 0; i < span.Length; i++)
                    {
                        span[i] = (byte)"abcdefgh ijklmnop"[random.Next(17)];
                    }

                    break;
                case 1:
                    random.NextBytes(span[..Math.Min(64, span.Length)]);
                    break;
                default:
                    random.NextBytes(span);
                    break;
            }
        }

        return data;
    }
}
