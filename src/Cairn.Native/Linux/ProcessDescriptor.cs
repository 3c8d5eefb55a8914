using System.Runtime.InteropServices;

namespace Cairn.Native.Linux;

/// <summary>
/// A process held by a pidfd (pidfd_open(2), Linux 5.3). A signal sent through it reaches that process or, once the
/// process has been reaped, nobody: never another process that was given the same PID afterwards, as kill(2) by PID
/// can. Opening one races with reaping just as kill does, so the caller must know the process is not yet reaped when
/// it opens it (for a child: opened, then found not exited, see <see cref="TryOpen"/>).
/// </summary>
public sealed class ProcessDescriptor : IDisposable
{
    /// <summary>SIGKILL, which <see cref="TryKill"/> sends: a process it ended exits with 128 + this.</summary>
    public const int KillSignal = 9;

    private readonly FileDescriptor _fd;

    private ProcessDescriptor(FileDescriptor fd) => _fd = fd;

    /// <summary>
    /// Opens process <paramref name="pid"/>; null if there is none (ESRCH) or the kernel has no pidfds (before 5.3).
    /// The descriptor is close-on-exec.
    /// </summary>
    public static ProcessDescriptor? TryOpen(int pid)
    {
        var fd = Libc.PidFdOpen(Libc.SysPidFdOpen, pid, 0);
        return fd < 0 ? null : new ProcessDescriptor(FileDescriptor.FromRaw((int)fd));
    }

    /// <summary>
    /// Sends SIGKILL. False if the process has been reaped (ESRCH). True also for a process that has exited but not
    /// yet been reaped (a zombie), on which the signal has no effect: its exit status says how it ended.
    /// </summary>
    public unsafe bool TryKill()
    {
        if (Libc.PidFdSendSignal(Libc.SysPidFdSendSignal, _fd, KillSignal, null, 0) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == Errno.ESRCH ? false : throw new LinuxIOException(errno, "pidfd_send_signal");
    }

    public void Dispose() => _fd.Dispose();
}
