using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Cairn.Buffers;

/// <summary>
/// A pinned array with a window that starts on a page boundary, for bulk reads and writes of file data. O_DIRECT
/// needs it; and the kernel copies between the page cache and user memory with <c>rep movsb</c>, which runs at a
/// fraction of its speed on some CPUs (AMD Zen among them) when the user address is not 32-byte aligned — a .NET
/// array's data starts 16 bytes into the object. Measured here with a plain read loop over a 1.4 GB image: 1.4 s of
/// system time into a buffer 16 bytes off a 32-byte boundary, 0.19 s into an aligned one.
/// </summary>
public sealed class PageAlignedBuffer
{
    public const int PageSize = 4096;

    private readonly byte[] _array;
    private readonly int _offset;

    public PageAlignedBuffer(int length)
    {
        _array = GC.AllocateUninitializedArray<byte>(length + PageSize, pinned: true);
        _offset = (int)((PageSize - (AddressOf(_array) & (PageSize - 1))) & (PageSize - 1));
        Length = length;
    }

    public int Length { get; }

    public Memory<byte> Memory => _array.AsMemory(_offset, Length);

    public Span<byte> Span => _array.AsSpan(_offset, Length);

    // The array is pinned (allocated on the pinned object heap), so its address never changes.
    private static unsafe nint AddressOf(byte[] array) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
}
