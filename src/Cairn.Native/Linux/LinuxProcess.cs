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
