using Cairn.Native.Zstd;

namespace Cairn.Format;

/// <summary>Helpers for the small zstd-compressed metadata objects (pack indexes, manifest sections).</summary>
internal static class ZstdFrames
{
    /// <summary>Decompresses a frame that declares its size, refusing sizes above <paramref name="maxLength"/> (hostile input).</summary>
    public static byte[] Decompress(ReadOnlySpan<byte> frame, int maxLength, string what)
    {
        var output = GC.AllocateUninitializedArray<byte>((int)ContentLength(frame, maxLength, what));
        DecompressInto(frame, output, what);
        return output;
    }

    /// <summary>
    /// Decompresses a frame that declares its size into <paramref name="destination"/>, refusing a frame larger than
    /// it (hostile input); returns the frame's size, which may be smaller.
    /// </summary>
    public static int DecompressInto(ReadOnlySpan<byte> frame, Span<byte> destination, string what)
    {
        var length = ContentLength(frame, destination.Length, what);
        var decoder = CodecPool.RentDecoder();
        try
        {
            if (!decoder.TryDecompress(frame, destination, out var written, out var error) || written != length)
            {
                throw new CorruptDataException($"{what}: invalid compressed data ({error ?? "size mismatch"})");
            }

            return written;
        }
        finally
        {
            CodecPool.Return(decoder);
        }
    }

    /// <summary>The size a frame declares, refusing a frame that declares none or more than <paramref name="maxLength"/>.</summary>
    public static long ContentLength(ReadOnlySpan<byte> frame, int maxLength, string what)
    {
        var length = ZstdDecoder.GetFrameContentLength(frame);
        return length < 0 || length > maxLength
            ? throw new CorruptDataException($"{what}: invalid compressed data (bad zstd frame header)")
            : length;
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
