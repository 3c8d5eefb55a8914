using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>
/// A private anonymous mapping (<c>mmap</c>), unmapped when disposed or finalized. Its pages cost memory only once
/// they are touched, start on a page boundary, lie outside the garbage-collected heap (never scanned, moved or
/// counted towards a collection's budget), and go back to the kernel the moment the mapping is disposed: what a
/// large, long-lived I/O buffer needs and a managed array cannot give (the GC keeps freed regions committed for a
/// while, so a process's resident set does not shrink when such an array becomes garbage).
/// </summary>
public sealed class AnonymousMemory : SafeHandle
{
    /// <summary>An invalid mapping; used by interop marshalling.</summary>
    public AnonymousMemory()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <summary>Bytes mapped (a whole number of pages).</summary>
    public nuint Length { get; private set; }

    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Maps <paramref name="length"/> bytes of zeroed memory, rounded up to whole pages.</summary>
    /// <exception cref="LinuxIOException">The kernel refused the mapping (ENOMEM: out of memory or address space).</exception>
    public static AnonymousMemory Allocate(nuint length)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        var pageSize = (nuint)Environment.SystemPageSize;
        var rounded = (length + pageSize - 1) / pageSize * pageSize;
        var address = Libc.MMap(IntPtr.Zero, rounded, Libc.ProtRead | Libc.ProtWrite, Libc.MapPrivate | Libc.MapAnonymous, -1, 0);
        if (address == Libc.MapFailed)
        {
            throw new LinuxIOException(Marshal.GetLastPInvokeError(), "mmap", null, null, detail: $"{rounded} bytes of anonymous memory");
        }

        var memory = new AnonymousMemory { Length = rounded };
        memory.SetHandle(address);
        return memory;
    }

    /// <summary>The mapping's first byte. Valid until disposed; holding the address does not keep it mapped.</summary>
    public IntPtr Address => handle;

    protected override bool ReleaseHandle()
    {
        // munmap fails only for arguments that are not a mapping: nothing to retry, and a finalizer must not throw.
        return Libc.MUnmap(handle, Length) == 0;
    }
}
