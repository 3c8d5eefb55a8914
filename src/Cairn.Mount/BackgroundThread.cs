using Cairn.Native.Linux;

namespace Cairn.Mount;

/// <summary>Threads for background work (prefetch, hydration) that must never slow down the reads a mount serves.</summary>
internal static class BackgroundThread
{
    /// <summary>
    /// Runs <paramref name="work"/> on a new thread at the lowest CPU priority (nice 19), so background work takes
    /// only the CPU that reads, and everything else on the machine, leave over. (Its disk writes go in the idle I/O
    /// class where they are made: see FrameFetcher.)
    /// </summary>
    public static Task Start(Action work, string name)
    {
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            LinuxProcess.TryLowerThreadPriority(19);
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
