using System.Runtime.InteropServices;

namespace Cairn.Native.Zstd;

/// <summary>
/// The libzstd entry points Cairn uses (Debian's <c>libzstd.so.1</c>). Only one-shot frame APIs:
/// Cairn compresses independent frames of at most a few MiB, so streaming contexts buy nothing.
/// </summary>
internal static partial class ZstdNative
{
    internal const string Library = "libzstd.so.1";

    internal const int CompressionLevelParameter = 100;
    internal const int ContentSizeFlagParameter = 200;
    internal const ulong ContentSizeUnknown = unchecked(0UL - 1);
    internal const ulong ContentSizeError = unchecked(0UL - 2);

    [LibraryImport(Library, EntryPoint = "ZSTD_createCCtx")]
    internal static partial CompressionContextHandle CreateCCtx();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeCCtx")]
    internal static partial nuint FreeCCtx(nint context);

    [LibraryImport(Library, EntryPoint = "ZSTD_CCtx_setParameter")]
    internal static partial nuint SetParameter(CompressionContextHandle context, int parameter, int value);

    [LibraryImport(Library, EntryPoint = "ZSTD_compress2")]
    internal static unsafe partial nuint Compress2(CompressionContextHandle context, byte* destination, nuint destinationCapacity, byte* source, nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_createDCtx")]
    internal static partial DecompressionContextHandle CreateDCtx();

    [LibraryImport(Library, EntryPoint = "ZSTD_freeDCtx")]
    internal static partial nuint FreeDCtx(nint context);

    [LibraryImport(Library, EntryPoint = "ZSTD_decompressDCtx")]
    internal static unsafe partial nuint DecompressDCtx(DecompressionContextHandle context, byte* destination, nuint destinationCapacity, byte* source, nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_getFrameContentSize")]
    internal static unsafe partial ulong GetFrameContentSize(byte* source, nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_compressBound")]
    internal static partial nuint CompressBound(nuint sourceSize);

    [LibraryImport(Library, EntryPoint = "ZSTD_isError")]
    internal static partial uint IsError(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")]
    internal static partial nint GetErrorName(nuint code);

    [LibraryImport(Library, EntryPoint = "ZSTD_versionNumber")]
    internal static partial uint VersionNumber();

    internal static string ErrorName(nuint code) => Marshal.PtrToStringUTF8(GetErrorName(code)) ?? "unknown zstd error";
}

/// <summary>Owns a <c>ZSTD_CCtx*</c>.</summary>
internal sealed class CompressionContextHandle : SafeHandle
{
    public CompressionContextHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        ZstdNative.FreeCCtx(handle);
        return true;
    }
}

/// <summary>Owns a <c>ZSTD_DCtx*</c>.</summary>
internal sealed class DecompressionContextHandle : SafeHandle
{
    public DecompressionContextHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        ZstdNative.FreeDCtx(handle);
        return true;
    }
}
