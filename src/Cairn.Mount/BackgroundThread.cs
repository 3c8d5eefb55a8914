using Cairn.Native.Linux;

namespace Cairn.Mount;

/// <summary>Threads for background work (prefetch, hydration) that must never slow down the reads a mount serves.</summary>
internal static class BackgroundThread
{
    /// <summary>
    /// Runs <paramref name="work"/> on a new thread at the lowest CPU priority (nice 19) and with its disk I/O in the
    /// idle class, so background work takes only the CPU and the disk time that reads, and everything else on the
    /// machine, leave over.
    /// </summary>
    public static Task Start(Action work, string name)
    {
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            LinuxProcess.TryLowerThreadPriority(19);
            LinuxProcess.TryIdleThreadIo();
            try
            {
                work();
                finished.SetResult();
            }
#pragma warning disable CA1031 // Reported through the task (cancellation included).
            catch (Exception e)
#pragma warning restore CA1031
            {
                finished.SetException(e);
            }
        })
        { IsBackground = true, Name = name }.Start();
        return finished.Task;
    }
}
