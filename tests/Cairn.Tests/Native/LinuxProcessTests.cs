using System.Diagnostics;
using Cairn.Native.Linux;

namespace Cairn.Tests.Native;

public sealed class LinuxProcessTests
{
    [Fact]
    public void Random_bytes_fill_the_whole_buffer_past_the_256_bytes_one_call_always_gives()
    {
        var first = new byte[1 << 20];
        var second = new byte[1 << 20];

        LinuxProcess.GetRandomBytes(first);
        LinuxProcess.GetRandomBytes(second);

        // A megabyte of real randomness holds every byte value, and the last kilobyte is filled like the first.
        Assert.Equal(256, first.Distinct().Count());
        Assert.Contains(first.AsSpan(first.Length - 1024).ToArray(), b => b != 0);
        Assert.False(first.AsSpan().SequenceEqual(second));
        LinuxProcess.GetRandomBytes([]); // nothing to fill: returns
    }

    [Fact]
    public async Task A_pidfd_kills_its_process_and_once_that_is_reaped_reaches_nobody()
    {
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            using var handle = ProcessDescriptor.TryOpen(sleeper.Id);
            Assert.NotNull(handle);
            Assert.True(handle.TryKill());
            await sleeper.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30)); // the runtime has reaped it
            Assert.Equal(128 + 9, sleeper.ExitCode); // what the mount daemon's parent takes for "stopped it"
            Assert.False(handle.TryKill()); // ESRCH, whoever has the PID now
            Assert.Null(ProcessDescriptor.TryOpen(int.MaxValue)); // past any pid_max
        }
        finally
        {
            if (!sleeper.HasExited)
            {
                sleeper.Kill();
                await sleeper.WaitForExitAsync();
            }
        }
    }

    [Fact]
    public void Idle_disk_priority_applies_to_the_calling_thread_only_and_can_be_undone()
    {
        string? background = null;
        string? restored = null;
        var thread = new Thread(() =>
        {
            if (LinuxProcess.TrySetThreadIoIdle(true))
            {
                background = IoniceOf(CurrentThreadId());
                restored = LinuxProcess.TrySetThreadIoIdle(false) ? IoniceOf(CurrentThreadId()) : null;
            }
        });
        thread.Start();
        thread.Join();

        Assert.Equal("idle", background);
        Assert.NotNull(restored);
        Assert.NotEqual("idle", restored);
        Assert.NotEqual("idle", IoniceOf(CurrentThreadId()));
    }

    [Fact]
    public void A_lowered_cpu_priority_applies_to_the_calling_thread_only()
    {
        var nice = -1;
        var thread = new Thread(() =>
        {
            if (LinuxProcess.TryLowerThreadPriority(19))
            {
                nice = NiceOf(CurrentThreadId());
            }
        });
        thread.Start();
        thread.Join();

        Assert.Equal(19, nice);
        Assert.NotEqual(19, NiceOf(CurrentThreadId()));
    }

    // /proc/thread-self links to "PID/task/TID".
    private static int CurrentThreadId() => int.Parse(Path.GetFileName(new FileInfo("/proc/thread-self").LinkTarget!), System.Globalization.CultureInfo.InvariantCulture);

    // The 19th field of /proc/PID/stat, counted after the command name (which may hold spaces) ends with ')'.
    private static int NiceOf(int tid)
    {
        var stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[16], System.Globalization.CultureInfo.InvariantCulture);
    }

    // util-linux's ionice prints "idle", "best-effort: prio 4", "none: prio 4", ...
    private static string IoniceOf(int tid)
    {
        using var ionice = Process.Start(new ProcessStartInfo("ionice", ["-p", tid.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true })!;
        var output = ionice.StandardOutput.ReadToEnd().Trim();
        ionice.WaitForExit();
        Assert.Equal(0, ionice.ExitCode);
        return output;
    }
}
