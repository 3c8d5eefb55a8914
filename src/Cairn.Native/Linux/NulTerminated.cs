using System.Buffers;
using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>
/// A NUL-terminated copy of a name for a system call: in the caller's stack buffer when it fits, else in a pooled
/// array returned on <see cref="Dispose"/>. Pin it with <c>fixed (byte* p = copy)</c>.
/// </summary>
internal ref struct NulTerminated
{
    /// <summary>Large enough for any single name (NAME_MAX is 255) plus the NUL.</summary>
    internal const int StackSize = 256;

    private readonly Span<byte> _buffer;
    private byte[]? _rented;

    internal NulTerminated(ReadOnlySpan<byte> value, Span<byte> scratch)
    {
        if (value.Length >= scratch.Length)
        {
            _rented = ArrayPool<byte>.Shared.Rent(value.Length + 1);
            scratch = _rented;
        }

        value.CopyTo(scratch);
        scratch[value.Length] = 0;
        _buffer = scratch[..(value.Length + 1)];
    }

    public readonly ref byte GetPinnableReference() => ref MemoryMarshal.GetReference(_buffer);

    public void Dispose()
    {
        if (_rented is not null)
        {
            ArrayPool<byte>.Shared.Return(_rented);
            _rented = null;
        }
    }
}
