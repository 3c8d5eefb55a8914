using Cairn.Manifests;
using Cairn.Native.Hashing;

namespace Cairn.Format;

/// <summary>
/// The read side of a frame: checksum before decompression, exact length after, SHA-256 of every chunk before its
/// bytes are used. The only way data leaves the repository, so every byte read back is verified.
/// </summary>
public static class FrameCodec
{
    /// <summary>Checks and decompresses one frame into <paramref name="output"/> (at least its uncompressed length).</summary>
    public static void Decode(ReadOnlySpan<byte> compressed, in FrameRecord frame, Span<byte> output, string what) =>
        Decode(compressed, frame, output, what, needed: default);

    /// <summary>
    /// Checks one frame and decompresses into <paramref name="output"/> at least the bytes of <paramref name="needed"/>
    /// (offsets in the frame; empty means all of it): of a segmented frame (<see cref="FrameSegments"/>) only the
    /// segments that hold them. The other bytes of <paramref name="output"/> are undefined. Returns the bytes decompressed.
    /// </summary>
    public static long Decode(ReadOnlySpan<byte> compressed, in FrameRecord frame, Span<byte> output, string what, ReadOnlySpan<MessageRange> needed)
    {
        if (compressed.Length != frame.CompressedLength || Crc32C.Compute(compressed) != frame.Checksum)
        {
            throw new CorruptDataException($"{what}: frame at offset {frame.Offset} fails its checksum (corrupt pack)");
        }

        var decoder = CodecPool.RentDecoder();
        try
        {
            var into = output[..(int)frame.UncompressedLength];
            if (FrameSegments.IsSegmented(compressed))
            {
                // Whole or in part, segment by segment: zstd alone would skip the table, which must describe the frame
                // all the same, so every reader refuses the same frames.
                ReadOnlySpan<MessageRange> all = [new MessageRange(0, into.Length)];
                var decoded = FrameSegments.DecodeNeeded(decoder, compressed, into, needed.IsEmpty ? all : needed, out var segmentError);
                return decoded >= 0 ? decoded : throw Undecodable(frame, what, segmentError);
            }

            if (!decoder.TryDecompress(compressed, into, out var written, out var error) || written != frame.UncompressedLength)
            {
                throw Undecodable(frame, what, error ?? "length mismatch");
            }

            return written;
        }
        finally
        {
            CodecPool.Return(decoder);
        }
    }

    /// <summary>
    /// Checks that each of <paramref name="chunks"/> (indexes into the manifest's chunks, all located in the frame
    /// <paramref name="frame"/> holds decoded, at <paramref name="ranges"/>: their locations, in the same order) is the
    /// chunk its id names. The chunks are hashed as one batch (<see cref="ContentId.HashMany"/>), and all of them are
    /// checked before the caller uses any.
    /// </summary>
    public static void VerifyChunks(ReadOnlySpan<byte> frame, Manifest m, ReadOnlySpan<int> chunks, ReadOnlySpan<MessageRange> ranges, string what)
    {
        using var batch = new IdBatch(chunks.Length);
        ranges.CopyTo(batch.Ranges);
        var ids = batch.Hash(frame);
        for (var i = 0; i < chunks.Length; i++)
        {
            if (ids[i] != m.Chunks[chunks[i]].Id)
            {
                throw Mismatch(m.Chunks[chunks[i]].Id, what);
            }
        }
    }

    /// <summary>Checks that <paramref name="data"/> is the chunk <paramref name="id"/>.</summary>
    public static void VerifyChunk(ReadOnlySpan<byte> data, ContentId id, string what)
    {
        if (ContentId.Hash(data) != id)
        {
            throw Mismatch(id, what);
        }
    }

    private static CorruptDataException Undecodable(in FrameRecord frame, string what, string? why) =>
        new($"{what}: frame at offset {frame.Offset} does not decompress ({why})");

    private static CorruptDataException Mismatch(ContentId id, string what) =>
        new($"{what}: chunk {id.ToShortString()} fails verification (corrupt or tampered data)");
}
