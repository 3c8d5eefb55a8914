namespace Cairn.Native.Linux;

/// <summary>Conversions between the kernel's (seconds, nanoseconds) pairs and nanoseconds since the epoch.</summary>
internal static class TimeConversion
{
    private const long NanosecondsPerSecond = 1_000_000_000;

    // Any second count strictly inside these bounds converts without overflow, whatever the nanosecond part.
    private const long SafeMaxSeconds = long.MaxValue / NanosecondsPerSecond - 1;
    private const long SafeMinSeconds = long.MinValue / NanosecondsPerSecond + 1;

    internal static long ToNanoseconds(in Libc.StatxTimestamp t) => ToNanoseconds(t.Seconds, t.Nanoseconds);

    internal static long ToNanoseconds(long seconds, uint nanoseconds)
    {
        if (seconds is > SafeMinSeconds and < SafeMaxSeconds)
        {
            return seconds * NanosecondsPerSecond + nanoseconds;
        }

        // File systems such as ext4 and XFS store dates up to the year 2446 and beyond; clamp rather than wrap,
        // so an absurd date stays absurd instead of turning into a plausible one.
        var exact = (Int128)seconds * NanosecondsPerSecond + nanoseconds;
        return exact > long.MaxValue ? long.MaxValue : exact < long.MinValue ? long.MinValue : (long)exact;
    }

    internal static Libc.Timespec ToTimespec(long nanoseconds)
    {
        // Floor division: the kernel wants 0 <= tv_nsec < 1e9, also for times before 1970.
        var seconds = Math.DivRem(nanoseconds, NanosecondsPerSecond, out var remainder);
        if (remainder < 0)
        {
            seconds--;
            remainder += NanosecondsPerSecond;
        }

        return new Libc.Timespec { Seconds = seconds, Nanoseconds = remainder };
    }
}
