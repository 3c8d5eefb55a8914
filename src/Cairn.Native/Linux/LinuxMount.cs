using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>mount(2) and umount2(2), for root.</summary>
public static class LinuxMount
{
    private const int MntDetach = 2;

    /// <summary>Mounts a file system of <paramref name="type"/> (no mount flags) with the given data string, e.g. an overlay's options.</summary>
    public static void Mount(string source, string target, string type, string options)
    {
        if (Libc.Mount(source, target, type, 0, options) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new LinuxIOException(errno, $"mount -t {type} '{target}'");
        }
    }

    /// <summary>A regular unmount: 0, or the errno (EBUSY if it is in use).</summary>
    public static int TryUnmount(string target) => Libc.Umount2(target, 0) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>Detaches the mount now; it goes away once nothing uses it (umount2 MNT_DETACH).</summary>
    public static void UnmountLazily(string target)
    {
        if (Libc.Umount2(target, MntDetach) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new LinuxIOException(errno, $"umount2 (MNT_DETACH) '{target}'");
        }
    }
}
