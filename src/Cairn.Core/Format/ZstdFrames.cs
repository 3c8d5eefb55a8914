using Cairn.Native.Zstd;

namespace Cairn.Format;

/// <summary>Helpers for the small zstd-compressed metadata objects (pack indexes, manifest sections).</summary>
internal static class ZstdFrames
{
    /// <summary>Decompresses a frame that declares its size, refusing sizes above <paramref name="maxLength"/> (hostile input).</summary>
    public static byte[] Decompress(ReadOnlySpan<byte> frame, int maxLength, string what)
    {
        var length = ZstdDecoder.GetFrameContentLength(frame);
        if (length < 0 || length > maxLength)
        {
            throw new CorruptDataException($"{what}: invalid compressed data (bad zstd frame header)");
        }

        var output = GC.AllocateUninitializedArray<byte>((int)length);
        var decoder = CodecPool.RentDecoder();
        try
        {
            if (!decoder.TryDecompress(frame, output, out var written, out var error) || written != length)
            {
                throw new CorruptDataException($"{what}: invalid compressed data ({error ?? "size mismatch"})");
            }
        }
        finally
        {
            CodecPool.Return(decoder);
        }

        return output;
    }

    public static byte[] Compress(ReadOnlySpan<byte> data, int level)
    {
        var encoder = CodecPool.RentEncoder(level);
        try
        {
            var output = new byte[ZstdEncoder.GetMaxCompressedLength(data.Length)];
            var n = encoder.Compress(data, output);
            return output.AsSpan(0, n).ToArray();
        }
        finally
        {
            CodecPool.Return(encoder);
        }
    }
}
