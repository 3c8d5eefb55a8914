using System.Runtime.InteropServices;

namespace Cairn.Native.Hashing;

/// <summary>
/// nettle's SHA-256 (Debian's <c>libnettle.so.8</c>, which apt itself depends on). None of these calls can fail, call
/// back or keep a pointer past its return.
/// </summary>
internal static unsafe partial class NettleNative
{
    internal const string Library = "libnettle.so.8";

    [LibraryImport(Library, EntryPoint = "nettle_sha256_init")]
    internal static partial void Sha256Init(Sha256Context* context);

    [LibraryImport(Library, EntryPoint = "nettle_sha256_update")]
    internal static partial void Sha256Update(Sha256Context* context, nuint length, byte* data);

    /// <summary>Writes the first <paramref name="length"/> bytes of the digest, then resets the context.</summary>
    [LibraryImport(Library, EntryPoint = "nettle_sha256_digest")]
    internal static partial void Sha256Digest(Sha256Context* context, nuint length, byte* digest);
}

/// <summary>
/// Room for nettle's <c>struct sha256_ctx</c>, which callers own (the header defines it, so its layout is part of the
/// library's ABI for the soname): eight 32-bit state words, a 64-bit block count, a 32-bit index into the block buffer
/// and a 64-byte block, 112 bytes on x86-64. The size here leaves headroom rather than match it to the byte.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 128)]
internal unsafe struct Sha256Context
{
    private const int CountOffset = 32;
    private const int IndexOffset = 40;

    private ulong _alignment; // 8-byte alignment, as the native struct's 64-bit count needs

    /// <summary>Sets the context to a message's state after <paramref name="blocks"/> whole blocks, nothing buffered (nettle/sha2.h: state, count, index).</summary>
    public void Resume(ReadOnlySpan<uint> state, ulong blocks)
    {
        fixed (ulong* start = &_alignment)
        {
            var bytes = (byte*)start;
            state[..8].CopyTo(new Span<uint>(bytes, 8));
            *(ulong*)(bytes + CountOffset) = blocks;
            *(uint*)(bytes + IndexOffset) = 0;
        }
    }
}
