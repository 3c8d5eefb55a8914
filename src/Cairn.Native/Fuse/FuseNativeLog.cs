using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using System.Text;

namespace Cairn.Native.Fuse;

/// <summary>
/// Receives libfuse's own log messages (fuse_set_log_func, process-wide) so that they reach
/// <see cref="FuseMount.LibraryLog"/> and so that mount failures can quote libfuse's reason.
/// </summary>
[SupportedOSPlatform("linux")]
internal static unsafe class FuseNativeLog
{
    private const int MessageCapacity = 1024;
    private const int RecentCapacity = 32;

    private static readonly Lock s_lock = new();
    private static readonly Queue<(long Sequence, string Message)> s_recentErrors = new();
    private static long s_sequence;
    private static int s_installed;

    internal static void EnsureInstalled()
    {
        if (Interlocked.Exchange(ref s_installed, 1) == 0)
        {
            FuseNative.fuse_set_log_func(&OnLog);
        }
    }

    /// <summary>Sequence number to pass to <see cref="ErrorsSince"/>.</summary>
    internal static long Mark()
    {
        lock (s_lock)
        {
            return s_sequence;
        }
    }

    /// <summary>Warnings and errors logged by libfuse (from any thread) after <paramref name="mark"/>, one per line.</summary>
    internal static string ErrorsSince(long mark)
    {
        lock (s_lock)
        {
            return string.Join(Environment.NewLine, s_recentErrors.Where(e => e.Sequence > mark).Select(e => e.Message));
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLog(int level, byte* format, nint arguments)
    {
        try
        {
            byte* buffer = stackalloc byte[MessageCapacity];
            int length = FuseLibC.vsnprintf(buffer, MessageCapacity, format, arguments);
            if (length < 0)
            {
                return;
            }

            string message = Encoding.UTF8.GetString(buffer, Math.Min(length, MessageCapacity - 1)).TrimEnd('\n');
            var severity = (FuseLogLevel)level;
            if (severity <= FuseLogLevel.Warning)
            {
                lock (s_lock)
                {
                    s_recentErrors.Enqueue((++s_sequence, message));
                    while (s_recentErrors.Count > RecentCapacity)
                    {
                        s_recentErrors.Dequeue();
                    }
                }
            }

            if (FuseMount.LibraryLog is { } sink)
            {
                sink(severity, message);
            }
            else
            {
                Console.Error.WriteLine(message);
            }
        }
#pragma warning disable CA1031 // An exception must never unwind into libfuse.
        catch
        {
        }
#pragma warning restore CA1031
    }
}
