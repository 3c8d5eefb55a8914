using System.Diagnostics;

namespace Cairn.Diagnostics;

/// <summary>
/// Phase timings on standard error when <c>CAIRN_TRACE=1</c>: "where did the time go" for a slow run in the field,
/// without a profiler. Each line also gives memory (the managed heap as of the last GC, what the GC has committed,
/// the large I/O buffers mapped outside it, the process's resident set), and a sample line is written every second
/// between marks, so a peak shows up too, and what the JIT has compiled so far (none in the Native AOT build of
/// ./cairn; under `dotnet cairn.dll`, what a short command's start-up spends beyond the runtime's own).
/// Costs one branch per mark when off.
/// </summary>
public static class PhaseTrace
{
    private static readonly bool s_enabled = Environment.GetEnvironmentVariable("CAIRN_TRACE") is "1";
    private static readonly long s_start = Stopwatch.GetTimestamp();
    private static Timer? s_sampler; // held so that the timer is not collected

    public static bool Enabled => s_enabled;

    /// <summary>Marks the start of <c>Main</c>, with how long the runtime took to get there since the process started.</summary>
    public static void MarkMain()
    {
        if (s_enabled)
        {
            using var process = Process.GetCurrentProcess();
            var sinceStart = DateTime.Now - process.StartTime;
            Mark($"main ({sinceStart.TotalMilliseconds:F1} ms after the process started)");
            s_sampler = new Timer(_ => Mark("sample"), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        }
    }

    public static void Mark(string phase)
    {
        if (s_enabled)
        {
            var gc = GC.GetGCMemoryInfo();
            Console.Error.WriteLine(
                $"cairn-trace: {Stopwatch.GetElapsedTime(s_start).TotalMilliseconds,9:F1} ms  " +
                $"heap {gc.HeapSizeBytes >> 20,4} committed {gc.TotalCommittedBytes >> 20,4} buffers {Buffers.PageAlignedBuffer.MappedBytes >> 20,4} rss {Environment.WorkingSet >> 20,4} MiB " +
                $"gc {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)} allocated {GC.GetTotalAllocatedBytes() >> 20,5} MiB " +
                $"jit {System.Runtime.JitInfo.GetCompiledMethodCount(),5} in {System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds,6:F1} ms  {phase}");
        }
    }
}
