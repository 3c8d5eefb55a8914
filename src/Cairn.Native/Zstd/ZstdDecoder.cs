namespace Cairn.Native.Zstd;

/// <summary>
/// Decompresses whole zstd frames. One instance holds one native context and is not thread-safe.
/// Mirrors .NET 11's <c>System.IO.Compression.ZstandardDecoder</c> one-shot API.
/// </summary>
public sealed class ZstdDecoder : IDisposable
{
    private readonly DecompressionContextHandle _context;

    public ZstdDecoder()
    {
        _context = ZstdNative.CreateDCtx();
        if (_context.IsInvalid)
        {
            throw new ZstdException("ZSTD_createDCtx failed (out of memory)");
        }
    }

    /// <summary>The decompressed size a frame header declares, or -1 when it is absent or the header is invalid.</summary>
    public static unsafe long GetFrameContentLength(ReadOnlySpan<byte> frame)
    {
        ulong size;
        fixed (byte* src = frame)
        {
            size = ZstdNative.GetFrameContentSize(src, (nuint)frame.Length);
        }

        return size is ZstdNative.ContentSizeUnknown or ZstdNative.ContentSizeError || size > long.MaxValue ? -1 : (long)size;
    }

    /// <summary>
    /// Decompresses one or more whole frames. Returns false, with the zstd error name, when the input is
    /// corrupt or the output does not fit: callers treat both as corrupt data, never as a crash.
    /// </summary>
    public unsafe bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination, out int bytesWritten, out string? error)
    {
        nuint result;
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            result = ZstdNative.DecompressDCtx(_context, dst, (nuint)destination.Length, src, (nuint)source.Length);
        }

        if (ZstdNative.IsError(result) != 0)
        {
            bytesWritten = 0;
            error = ZstdNative.ErrorName(result);
            return false;
        }

        bytesWritten = (int)result;
        error = null;
        return true;
    }

    public void Dispose() => _context.Dispose();
}
