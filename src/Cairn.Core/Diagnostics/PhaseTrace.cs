using System.Diagnostics;

namespace Cairn.Diagnostics;

/// <summary>
/// Phase timings on standard error when <c>CAIRN_TRACE=1</c>: "where did the time go" for a slow run in the field,
/// without a profiler. Costs one branch per mark when off.
/// </summary>
public static class PhaseTrace
{
    private static readonly bool s_enabled = Environment.GetEnvironmentVariable("CAIRN_TRACE") is "1";
    private static readonly long s_start = Stopwatch.GetTimestamp();

    public static bool Enabled => s_enabled;

    /// <summary>Marks the start of <c>Main</c>, with how long the runtime took to get there since the process started.</summary>
    public static void MarkMain()
    {
        if (s_enabled)
        {
            var sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
            Mark($"main ({sinceStart.TotalMilliseconds:F1} ms after the process started)");
        }
    }

    public static void Mark(string phase)
    {
        if (s_enabled)
        {
            Console.Error.WriteLine($"cairn-trace: {Stopwatch.GetElapsedTime(s_start).TotalMilliseconds,9:F1} ms  {phase}");
        }
    }
}
