namespace Cairn.Native.Zstd;

/// <summary>
/// Compresses buffers into self-contained zstd frames. One instance holds one native context and is
/// not thread-safe: keep one per worker thread. Shaped like .NET 11's
/// <c>System.IO.Compression.ZstandardEncoder</c> (span in, span out, <c>TryCompress</c> / <c>GetMaxCompressedLength</c>)
/// so the binding can be swapped for it without touching callers.
/// </summary>
public sealed class ZstdEncoder : IDisposable
{
    private readonly CompressionContextHandle _context;

    public ZstdEncoder(int level)
    {
        _context = ZstdNative.CreateCCtx();
        if (_context.IsInvalid)
        {
            throw new ZstdException("ZSTD_createCCtx failed (out of memory)");
        }

        Level = level;
        Check(ZstdNative.SetParameter(_context, ZstdNative.CompressionLevelParameter, level));
        // The frame header records the decompressed size, so readers can size buffers exactly.
        Check(ZstdNative.SetParameter(_context, ZstdNative.ContentSizeFlagParameter, 1));
    }

    public int Level { get; }

    /// <summary>The largest frame <paramref name="inputLength"/> bytes can compress to (<c>ZSTD_compressBound</c>).</summary>
    public static int GetMaxCompressedLength(int inputLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(inputLength);
        return checked((int)ZstdNative.CompressBound((nuint)inputLength));
    }

    /// <summary>Compresses <paramref name="source"/> into one frame. False when <paramref name="destination"/> is too small.</summary>
    public unsafe bool TryCompress(ReadOnlySpan<byte> source, Span<byte> destination, out int bytesWritten)
    {
        nuint result;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            result = ZstdNative.Compress2(_context, dst, (nuint)destination.Length, src, (nuint)source.Length);
        }

        if (ZstdNative.IsError(result) != 0)
        {
            bytesWritten = 0;
            if (destination.Length < GetMaxCompressedLength(source.Length))
            {
                return false;
            }

            throw new ZstdException($"zstd compression failed: {ZstdNative.ErrorName(result)}");
        }

        bytesWritten = (int)result;
        return true;
    }

    /// <summary>Compresses into a destination of at least <see cref="GetMaxCompressedLength"/> bytes.</summary>
    public int Compress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (!TryCompress(source, destination, out var written))
        {
            throw new ArgumentException("destination is smaller than the compress bound", nameof(destination));
        }

        return written;
    }

    public void Dispose() => _context.Dispose();

    private static void Check(nuint result)
    {
        if (ZstdNative.IsError(result) != 0)
        {
            throw new ZstdException($"zstd parameter rejected: {ZstdNative.ErrorName(result)}");
        }
    }
}
