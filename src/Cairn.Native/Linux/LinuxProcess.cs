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

    /// <summary>
    /// Fills <paramref name="buffer"/> from the kernel's random source (getrandom(2), the source behind
    /// /dev/urandom, waiting only until it is first seeded at boot). Throws if the call fails rather than return
    /// weaker bytes.
    /// </summary>
    public static unsafe void GetRandomBytes(Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            var filled = 0;
            while (filled < buffer.Length)
            {
                // Reads of up to 256 bytes are never cut short; longer ones may be, by a signal.
                var n = Libc.GetRandom(start + filled, (nuint)(buffer.Length - filled), 0);
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno != Errno.EINTR)
                    {
                        throw new LinuxIOException(errno, "getrandom");
                    }

                    continue;
                }

                filled += (int)n;
            }
        }
    }

    /// <summary>
    /// Lowers the CPU priority of the calling thread (its nice value; 19 is the lowest), so it runs on what other
    /// work leaves over. Linux schedules threads individually, so the rest of the process keeps its priority.
    /// False if it could not be set.
    /// </summary>
    public static bool TryLowerThreadPriority(int nice)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nice, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nice, 19);
        const int processWhich = 0; // PRIO_PROCESS: with a thread id, that one thread
        return Libc.SetPriority(processWhich, Libc.GetTid(), nice) == 0;
    }

    /// <summary>
    /// Puts the disk I/O of the calling thread in the idle class (ioprio_set, IOPRIO_CLASS_IDLE), or, with
    /// <paramref name="idle"/> false, back in the default class (best effort, at a level that follows its nice value).
    /// Idle-class I/O is served only when no other I/O is waiting, where the block layer's scheduler knows priorities
    /// (mq-deadline since Linux 5.14, bfq). Only the I/O the thread issues itself: buffered writes are written back
    /// later by the kernel's threads, at their priority. False if it could not be set (or the architecture's call
    /// number is not known here).
    /// </summary>
    public static bool TrySetThreadIoIdle(bool idle)
    {
        if (Libc.SysIoPrioSet < 0)
        {
            return false;
        }

        const int whoProcess = 1; // IOPRIO_WHO_PROCESS: with a thread id, that one thread
        const int idleClass = 3 << 13; // IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0)
        const int defaultClass = 0; // IOPRIO_CLASS_NONE
        return Libc.IoPrioSet(Libc.SysIoPrioSet, whoProcess, Libc.GetTid(), idle ? idleClass : defaultClass) == 0;
    }

    /// <summary>
    /// Keeps the pages of the process's read-only file mappings (its code and the read-only data of the runtime, the
    /// assemblies and the native libraries) in memory once they are used: mlock2(MLOCK_ONFAULT) on each, which pins
    /// what is resident now and what is faulted in later, and never reads in the rest. For a server on the data path
    /// of other processes (a FUSE file system), whose code paged out under memory pressure would stall every request
    /// for milliseconds. Returns the bytes of mappings marked (not the pages pinned); 0 if not permitted
    /// (RLIMIT_MEMLOCK without CAP_IPC_LOCK).
    /// </summary>
    public static unsafe long LockFileMappingsOnFault()
    {
        const uint mlockOnFault = 1; // MLOCK_ONFAULT
        long marked = 0;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            // address perms offset dev inode path
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 6 || fields[1].Contains('w', StringComparison.Ordinal) || !fields[5].StartsWith('/') || fields[1][0] != 'r')
            {
                continue;
            }

            var range = fields[0].Split('-');
            var start = Convert.ToUInt64(range[0], 16);
            var end = Convert.ToUInt64(range[1], 16);
            if (Libc.MLock2((void*)start, (nuint)(end - start), mlockOnFault) == 0)
            {
                marked += (long)(end - start);
            }
        }

        return marked;
    }
}
