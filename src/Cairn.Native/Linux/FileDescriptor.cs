using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>
/// Owns a Linux file descriptor and closes it when disposed or finalized. Passing it to the calls of
/// <see cref="LinuxFile"/> keeps it from being closed (and the number reused) while a call is in flight.
/// </summary>
public sealed class FileDescriptor : SafeHandle
{
    /// <summary>An invalid descriptor (-1); used by interop marshalling.</summary>
    public FileDescriptor()
        : base(new IntPtr(-1), ownsHandle: true)
    {
    }

    private FileDescriptor(int fd)
        : this()
    {
        SetHandle(fd);
    }

    /// <summary>The descriptor number. Only meaningful while this object is open; it does not keep it open.</summary>
    public int Value => (int)handle;

    public override bool IsInvalid => (int)handle < 0;

    /// <summary>Takes ownership of <paramref name="fd"/>: it is closed when the result is disposed.</summary>
    public static FileDescriptor FromRaw(int fd) => new(fd);

    public override string ToString() => $"fd {Value}";

    protected override bool ReleaseHandle()
    {
        // No retry on EINTR: Linux releases the descriptor before close can be interrupted, and retrying could close
        // a number another thread has just been given. Write errors that close would report are the business of
        // Sync, which callers that care about durability must use anyway.
        _ = Libc.Close((int)handle);
        return true;
    }
}
