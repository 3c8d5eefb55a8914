using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>Process-level calls .NET does not expose.</summary>
public static class LinuxProcess
{
    /// <summary>
    /// Starts a new session with this process as its leader (setsid): no controlling terminal, so closing the
    /// terminal that started it sends no SIGHUP. What a process detaching into the background needs.
    /// Fails with EPERM if the process already leads a process group.
    /// </summary>
    public static void StartSession()
    {
        if (Libc.SetSid() < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new LinuxIOException(errno, "setsid");
        }
    }
}
