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
    /// Decompresses a frame into <paramref name="destination"/>, which it must fill exactly: the caller has checked the
    /// size the frame declares (<see cref="ContentLength"/>) and sized the destination by it. A frame whose data does
    /// not match that size is refused (zstd stops at the end of the destination).
    /// </summary>
    public static void DecompressInto(ReadOnlySpan<byte> frame, Span<byte> destination, string what)
    {
        var decoder = CodecPool.RentDecoder();
        try
        {
            if (!decoder.TryDecompress(frame, destination, out var written, out var error) || written != destination.Length)
            {
                throw new CorruptDataException($"{what}: invalid compressed data ({error ?? "size mismatch"})");
            }
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
