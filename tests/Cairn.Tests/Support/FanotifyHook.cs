using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace Cairn.Tests.Support;

/// <summary>
/// Runs an action at the exact moment a file is read or opened, by any thread or process: a fanotify permission
/// mark holds the read or open until the action has returned. Lets a test change a file while it is being read, or
/// kill a process just as it starts writing its n-th object, instead of hoping a timer or a background thread gets
/// the CPU at the right moment. Needs CAP_SYS_ADMIN (the tests run as root).
/// </summary>
internal sealed unsafe partial class FanotifyHook : IDisposable
{
    private const uint FanCloexec = 0x1;
    private const uint FanNonblock = 0x2;
    private const uint FanClassContent = 0x4;
    private const uint FanMarkAdd = 0x1;
    private const ulong FanOpenPerm = 0x10000;
    private const ulong FanAccessPerm = 0x20000;
    private const ulong FanEventOnChild = 0x0800_0000;
    private const uint FanAllow = 0x1;
    private const uint ReadOnlyLargeFile = 0x8000;
    private const int AtFdCwd = -100;
    private const short PollIn = 0x1;

    private readonly int _fd;
    private readonly Action<int> _action;
    private readonly Thread _thread;
    private volatile bool _stop;

    private FanotifyHook(string path, ulong mask, Action<int> action)
    {
        _action = action;
        _fd = FanotifyInit(FanClassContent | FanCloexec | FanNonblock, ReadOnlyLargeFile);
        if (_fd < 0)
        {
            throw new IOException($"fanotify_init failed: errno {Marshal.GetLastPInvokeError()}");
        }

        var pathZ = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = pathZ)
        {
            if (FanotifyMark(_fd, FanMarkAdd, mask, AtFdCwd, p) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                _ = Close(_fd);
                throw new IOException($"fanotify_mark failed: errno {errno}");
            }
        }

        _thread = new Thread(Listen) { IsBackground = true, Name = "fanotify hook" };
        _thread.Start();
    }

    /// <summary>Reads or opens seen so far.</summary>
    public int Count { get; private set; }

    /// <summary>Calls <paramref name="action"/> with the number of the read (1, 2, ...) before each read(2) of <paramref name="file"/>.</summary>
    public static FanotifyHook BeforeReads(string file, Action<int> action) => new(file, FanAccessPerm, action);

    /// <summary>
    /// Calls <paramref name="action"/> with the number of the open (1, 2, ...) before each open(2) of a file in
    /// <paramref name="directory"/>. Killing the opener from the action is fine: the open waits killably.
    /// </summary>
    public static FanotifyHook BeforeOpensIn(string directory, Action<int> action) => new(directory, FanOpenPerm | FanEventOnChild, action);

    /// <summary>The first exception the action threw (the read or open went on regardless).</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Stops watching; closing the group lets any read still waiting go on.</summary>
    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        _ = Close(_fd);
    }

    private void Listen()
    {
        // struct fanotify_event_metadata { u32 event_len; u8 vers; u8 reserved; u16 metadata_len; u64 mask; s32 fd; s32 pid; }
        var buffer = new byte[4096];
        var poll = new PollFd { Fd = _fd, Events = PollIn };
        while (!_stop)
        {
            if (Poll(&poll, 1, 20) <= 0)
            {
                continue;
            }

            nint length;
            fixed (byte* b = buffer)
            {
                length = Read(_fd, b, (nuint)buffer.Length);
            }

            for (var offset = 0; offset + 24 <= length;)
            {
                var record = buffer.AsSpan(offset);
                var eventLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(record);
                var mask = BinaryPrimitives.ReadUInt64LittleEndian(record[8..]);
                var fd = BinaryPrimitives.ReadInt32LittleEndian(record[16..]);
                if ((mask & (FanAccessPerm | FanOpenPerm)) != 0)
                {
                    Allow(fd);
                }

                if (fd >= 0)
                {
                    _ = Close(fd);
                }

                offset += eventLength;
            }
        }
    }

    private void Allow(int fd)
    {
        // struct fanotify_response { s32 fd; u32 response; }
        var response = stackalloc int[2];
        response[0] = fd;
        response[1] = (int)FanAllow;
        try
        {
            _action(++Count);
        }
#pragma warning disable CA1031 // Kept for the test to check; the access must be let through whatever happened.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Failure ??= e;
        }
        finally
        {
            _ = Write(_fd, (byte*)response, 8);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "fanotify_init", SetLastError = true)]
    private static partial int FanotifyInit(uint flags, uint eventFlags);

    [LibraryImport("libc", EntryPoint = "fanotify_mark", SetLastError = true)]
    private static partial int FanotifyMark(int fd, uint flags, ulong mask, int directory, byte* path);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, nuint count, int timeout);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
