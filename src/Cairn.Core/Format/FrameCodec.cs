using Cairn.Manifests;

namespace Cairn.Format;

/// <summary>
/// The read side of a frame: checksum before decompression, exact length after, SHA-256 of every chunk before its
/// bytes are used. The only way data leaves the repository, so every byte read back is verified.
/// </summary>
public static class FrameCodec
{
    /// <summary>Checks and decompresses one frame into <paramref name="output"/> (at least its uncompressed length).</summary>
    public static void Decode(ReadOnlySpan<byte> compressed, in FrameRecord frame, Span<byte> output, string what)
    {
        if (compressed.Length != frame.CompressedLength || Crc32C.Compute(compressed) != frame.Checksum)
        {
            throw new CorruptDataException($"{what}: frame at offset {frame.Offset} fails its checksum (corrupt pack)");
        }

        var decoder = CodecPool.RentDecoder();
        try
        {
            if (!decoder.TryDecompress(compressed, output[..(int)frame.UncompressedLength], out var written, out var error) || written != frame.UncompressedLength)
            {
                throw new CorruptDataException($"{what}: frame at offset {frame.Offset} does not decompress ({error ?? "length mismatch"})");
            }
        }
        finally
        {
            CodecPool.Return(decoder);
        }
    }

    /// <summary>Checks that <paramref name="data"/> is the chunk <paramref name="id"/>.</summary>
    public static void VerifyChunk(ReadOnlySpan<byte> data, ContentId id, string what)
    {
        if (ContentId.Hash(data) != id)
        {
            throw new CorruptDataException($"{what}: chunk {id.ToShortString()} fails verification (corrupt or tampered data)");
        }
    }
}
