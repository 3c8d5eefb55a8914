using Cairn.Native.Linux;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Cairn.Native.Fuse;

/// <summary>
/// A live FUSE mount of an <see cref="IFuseFileSystem"/>, served by libfuse's multi-threaded session loop on a
/// dedicated background thread. Signals are not touched (fuse_set_signal_handlers is not used): the host decides
/// when to call <see cref="Unmount"/> / <see cref="Dispose"/>.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class FuseMount : IDisposable
{
    private readonly Lock _sessionLock = new();
    private readonly Lock _unmountLock = new();
    private readonly FuseDispatcher _dispatcher;
    private readonly TaskCompletionSource<int> _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private GCHandle _dispatcherHandle;
    private nint _session; // guarded by _sessionLock; 0 once the loop thread has taken it back for teardown
    private MountInfo? _mountEntry;
    private FuseUnmountResult? _unmountResult;

    private FuseMount(string mountPoint, FuseDispatcher dispatcher)
    {
        MountPoint = mountPoint;
        _dispatcher = dispatcher;
    }

    /// <summary>Receives libfuse's own messages (process-wide). Default (null): written to standard error, as libfuse does.</summary>
    public static Action<FuseLogLevel, string>? LibraryLog { get; set; }

    /// <summary>Absolute path of the mount point.</summary>
    public string MountPoint { get; }

    /// <summary>The options the mount was started with.</summary>
    public FuseMountOptions Options => _dispatcher.Options;

    /// <summary>True until the session loop has ended and the session has been torn down.</summary>
    public bool IsRunning => !_stopped.Task.IsCompleted;

    /// <summary>
    /// Mounts <paramref name="fileSystem"/> at <paramref name="mountPoint"/> (an existing directory) and starts serving
    /// it. Returns once the kernel's INIT request has been answered, so the mount is usable.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not linux-x64 (the native struct layouts are only verified there).</exception>
    /// <exception cref="IOException">libfuse could not create the session or mount (its reason is included).</exception>
    public static FuseMount Start(string mountPoint, IFuseFileSystem fileSystem, FuseMountOptions? options = null)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            throw new PlatformNotSupportedException(
                $"The FUSE layer supports linux-x64 only (struct stat and friends are laid out for it); this is {RuntimeInformation.RuntimeIdentifier}.");
        }

        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        ArgumentNullException.ThrowIfNull(fileSystem);
        options ??= new FuseMountOptions();
        options.Validate();
        string fullPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        if (!Directory.Exists(fullPath))
        {
            throw new DirectoryNotFoundException($"The mount point '{fullPath}' is not an existing directory.");
        }

        var mount = new FuseMount(fullPath, new FuseDispatcher(fileSystem, options));
        mount.Run();
        return mount;
    }

    /// <summary>
    /// If <paramref name="mountPoint"/> is a FUSE mount whose server is gone (statfs fails with ENOTCONN or
    /// ECONNABORTED), detaches it lazily and returns true; otherwise leaves it alone and returns false.
    /// </summary>
    public static bool CleanupStale(string mountPoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        string fullPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        if (!IsStale(fullPath))
        {
            return false;
        }

        UnmountLazily(fullPath);
        return true;
    }

    /// <summary>True if <paramref name="mountPoint"/> is a FUSE mount whose server is gone (statfs fails with ENOTCONN or ECONNABORTED).</summary>
    public static unsafe bool IsStale(string mountPoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        byte* buffer = stackalloc byte[256]; // struct statfs is 120 bytes on x86_64
        if (FuseLibC.statfs(mountPoint, buffer) == 0)
        {
            return false;
        }

        int errno = Marshal.GetLastPInvokeError();
        return (errno == Errno.ENOTCONN || errno == Errno.ECONNABORTED) && MountTable.IsFuseMount(mountPoint);
    }

    /// <summary>
    /// Unmounts the FUSE mount at <paramref name="mountPoint"/> whoever serves it (<c>cairn umount</c>): a regular
    /// unmount, or a lazy one when it is busy: the mount leaves the namespace at once, and its server goes on serving
    /// the files still open in it; its session ends when the last is closed. Returns
    /// <see cref="FuseUnmountResult.AlreadyUnmounted"/> if no FUSE file system is mounted there.
    /// </summary>
    public static FuseUnmountResult UnmountPath(string mountPoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        string fullPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        if (!MountTable.IsFuseMount(fullPath))
        {
            return FuseUnmountResult.AlreadyUnmounted;
        }

        if (TryUnmountCleanly(fullPath))
        {
            return FuseUnmountResult.Unmounted;
        }

        UnmountLazily(fullPath);
        return FuseUnmountResult.LazilyUnmounted;
    }

    /// <summary>True if a FUSE file system is mounted at <paramref name="mountPoint"/> (topmost mount).</summary>
    public static bool IsMountedAt(string mountPoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(mountPoint);
        return MountTable.IsFuseMount(mountPoint);
    }

    /// <summary>
    /// Sets the kernel's readahead for this mount (/sys/class/bdi/MAJOR:MINOR/read_ahead_kb; needs root). FUSE starts
    /// at 128 KiB and INIT can only lower it; a larger window makes sequential reads of big files use fewer, larger
    /// requests (up to <see cref="FuseMountOptions.MaxReadKiB"/> each). False if it could not be set.
    /// </summary>
    public bool TrySetReadAhead(int kib)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(kib);
        if (_mountEntry is null)
        {
            return false;
        }

        try
        {
            File.WriteAllText($"/sys/class/bdi/{_mountEntry.Device}/read_ahead_kb", kib.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Puts <paramref name="data"/> into the kernel's page cache of <paramref name="inode"/> at <paramref name="offset"/>
    /// (FUSE_NOTIFY_STORE), so reads of it are answered by the kernel without a request. Only for data that never
    /// changes, and never past the end of the file (the kernel would take the end as the file's new size). Returns 0,
    /// or a positive errno: <see cref="Errno.ENOENT"/> when the kernel holds no inode of that number (nothing was
    /// looked up or listed with it yet, or it was forgotten), <see cref="Errno.ENOTCONN"/> once the session is gone.
    /// </summary>
    public unsafe int NotifyStore(ulong inode, long offset, ReadOnlySpan<byte> data)
    {
        fixed (byte* pointer = data)
        {
            var buffers = new FuseBufVec { Count = 1, Size = (nuint)data.Length, Memory = pointer, Fd = -1 };
            lock (_sessionLock)
            {
                // Under the lock: teardown takes the session away (and destroys it) only between two stores.
                return _session == 0 ? Errno.ENOTCONN : -FuseNative.fuse_lowlevel_notify_store(_session, inode, offset, &buffers, 0);
            }
        }
    }

    /// <summary>Completes when the session loop has ended and the session is torn down, whoever unmounted it; faults if the loop failed.</summary>
    public async Task WaitAsync(CancellationToken cancellationToken = default)
    {
        int result = await _stopped.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (result < 0)
        {
            throw new IOException($"The FUSE session loop for '{MountPoint}' failed (errno {-result}).");
        }
    }

    /// <summary>
    /// Ends the session and unmounts: a regular unmount first; if the mount is busy, the loop is stopped and the mount
    /// detached lazily (open files then fail with ENOTCONN). Waits for the loop to end. Idempotent.
    /// </summary>
    /// <exception cref="TimeoutException">The loop did not end within <see cref="FuseMountOptions.ShutdownTimeout"/> (a handler is stuck); it is torn down whenever it does end.</exception>
    /// <exception cref="InvalidOperationException">Called from a file-system handler, which would deadlock.</exception>
    public FuseUnmountResult Unmount()
    {
        if (FuseDispatcher.IsWorkerThread)
        {
            throw new InvalidOperationException("A FUSE mount cannot be unmounted from one of its own request handlers.");
        }

        lock (_unmountLock)
        {
            if (_unmountResult is { } previous)
            {
                return previous;
            }

            FuseUnmountResult result;
            if (_stopped.Task.IsCompleted)
            {
                result = FuseUnmountResult.AlreadyUnmounted;
            }
            else
            {
                bool sessionAlive;
                lock (_sessionLock)
                {
                    sessionAlive = _session != 0;
                }

                // Try a regular unmount before raising the exit flag: the kernel then aborts the connection, the
                // workers read ENODEV and the loop ends by itself. (With the flag already raised, a worker serving
                // one of the FORGETs the unmount sends would end the loop first, and libfuse's teardown would race
                // to unmount the same path again.)
                bool clean = sessionAlive && TryUnmountCleanly(MountPoint);
                lock (_sessionLock)
                {
                    if (_session != 0)
                    {
                        FuseNative.fuse_session_exit(_session);
                    }
                }

                if (clean)
                {
                    result = FuseUnmountResult.Unmounted;
                }
                else
                {
                    // Busy (or detached by someone else). The workers are blocked reading /dev/fuse and only look at
                    // the exit flag after serving a request, so make one arrive; teardown then closes the device
                    // (aborting the connection) and fuse_session_unmount detaches lazily.
                    WakeLoop();
                    result = sessionAlive ? FuseUnmountResult.LazilyUnmounted : FuseUnmountResult.AlreadyUnmounted;
                }

                if (!((IAsyncResult)_stopped.Task).AsyncWaitHandle.WaitOne(Options.ShutdownTimeout))
                {
                    throw new TimeoutException($"The FUSE session loop for '{MountPoint}' did not end within {Options.ShutdownTimeout}.");
                }
            }

            _unmountResult = result;
            return result;
        }
    }

    /// <summary><see cref="Unmount"/>; a timeout is reported through <see cref="FuseMountOptions.OnException"/> instead of thrown.</summary>
    public void Dispose()
    {
        try
        {
            Unmount();
        }
        catch (TimeoutException exception)
        {
            _dispatcher.Report("unmount", exception);
        }
    }

    private void Run()
    {
        FuseNativeLog.EnsureInstalled();
        long logMark = FuseNativeLog.Mark();
        _dispatcherHandle = GCHandle.Alloc(_dispatcher);
        nint session = CreateSession(_dispatcher.Options, GCHandle.ToIntPtr(_dispatcherHandle));
        if (session == 0)
        {
            _dispatcherHandle.Free();
            throw new IOException($"fuse_session_new failed. {FuseNativeLog.ErrorsSince(logMark)}".TrimEnd());
        }

        if (FuseNative.fuse_session_mount(session, MountPoint) != 0)
        {
            FuseNative.fuse_session_destroy(session);
            _dispatcherHandle.Free();
            throw new IOException($"Mounting FUSE at '{MountPoint}' failed. {FuseNativeLog.ErrorsSince(logMark)}".TrimEnd());
        }

        _session = session;
        _mountEntry = MountTable.Find(MountPoint);
        var thread = new Thread(Loop) { IsBackground = true, Name = "cairn-fuse-loop" };
        thread.Start();

        int ready = Task.WaitAny([_dispatcher.Initialized.Task, _stopped.Task], Options.StartTimeout);
        if (ready == 0)
        {
            return;
        }

        if (ready == 1)
        {
            throw new IOException(
                $"The FUSE session for '{MountPoint}' ended during initialisation (result {_stopped.Task.Result}). {FuseNativeLog.ErrorsSince(logMark)}".TrimEnd());
        }

        Dispose();
        throw new TimeoutException($"The kernel did not initialise the FUSE mount at '{MountPoint}' within {Options.StartTimeout}.");
    }

    private static unsafe nint CreateSession(FuseMountOptions options, nint userdata)
    {
        var arguments = new List<string> { "cairn", "-o", options.ToMountOptionList() };
        if (options.Debug)
        {
            arguments.Add("-d");
        }

        nint* argv = stackalloc nint[arguments.Count + 1];
        for (int i = 0; i <= arguments.Count; i++)
        {
            argv[i] = i < arguments.Count ? Marshal.StringToCoTaskMemUTF8(arguments[i]) : 0;
        }

        try
        {
            var args = new FuseArgs { Argc = arguments.Count, Argv = (byte**)argv, Allocated = 0 };
            FuseLowLevelOps operations = FuseDispatcher.CreateOperations();
            nint session = FuseNative.fuse_session_new(&args, &operations, (nuint)sizeof(FuseLowLevelOps), userdata);

            // Option parsing replaces args with a heap copy owned by libfuse (Allocated = 1); ours stays ours.
            FuseNative.fuse_opt_free_args(&args);
            return session;
        }
        finally
        {
            for (int i = 0; i < arguments.Count; i++)
            {
                Marshal.FreeCoTaskMem(argv[i]);
            }
        }
    }

    private void Loop()
    {
        int result = -Errno.EIO;
        try
        {
            nint config = FuseNative.fuse_loop_cfg_create();
            if (config == 0)
            {
                result = -Errno.ENOMEM;
            }
            else
            {
                try
                {
                    FuseNative.fuse_loop_cfg_set_max_threads(config, (uint)Options.MaxThreads);
                    result = FuseNative.fuse_session_loop_mt(_session, config);
                }
                finally
                {
                    FuseNative.fuse_loop_cfg_destroy(config);
                }
            }
        }
#pragma warning disable CA1031 // Nothing may escape a background thread; the result reports the failure.
        catch (Exception exception)
        {
            _dispatcher.Report("session loop", exception);
        }
#pragma warning restore CA1031
        finally
        {
            TearDown(result);
        }
    }

    private void TearDown(int result)
    {
        nint session;
        lock (_sessionLock)
        {
            session = _session;
            _session = 0;
        }

        try
        {
            // No reply may reach the session once it is unmounted (its fd is closed) or destroyed.
            _dispatcher.Replies.AbandonPending();

            // Skips the unmount if the connection is already gone; otherwise closes /dev/fuse (aborting the
            // connection) and detaches lazily: umount2(MNT_DETACH) as root, fusermount3 -u -z otherwise.
            FuseNative.fuse_session_unmount(session);
            FuseNative.fuse_session_destroy(session);
            _dispatcherHandle.Free();
        }
#pragma warning disable CA1031 // Nothing may escape a background thread.
        catch (Exception exception)
        {
            _dispatcher.Report("teardown", exception);
        }
#pragma warning restore CA1031

        _stopped.TrySetResult(result);
    }

    /// <summary>
    /// Makes the kernel send the session a request so a worker wakes up, sees the exit flag and ends the loop.
    /// While our mount is still attached at the mount point, a statfs through it does (statfs is never cached). If
    /// it was detached by someone else, the connection is aborted through fusectl when that is mounted; otherwise
    /// the loop ends when the last open file on the detached mount is closed. (FUSE_NOTIFY_RETRIEVE, the one
    /// notification that makes the kernel send a request, is refused with EINVAL by Linux 6.18 for libfuse 3.14.)
    /// </summary>
    private void WakeLoop()
    {
        MountInfo? current = MountTable.Find(MountPoint);
        if (_mountEntry is not null && current == _mountEntry)
        {
            // On a pool thread: it returns once a worker has answered, or with ENOTCONN once the connection is gone.
            ThreadPool.UnsafeQueueUserWorkItem(static path => StatFsQuietly(path), MountPoint, preferLocal: false);
            return;
        }

        if (_mountEntry is not null)
        {
            string abort = $"/sys/fs/fuse/connections/{_mountEntry.KernelDevice}/abort";
            try
            {
                if (File.Exists(abort))
                {
                    File.WriteAllText(abort, "1");
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                _dispatcher.Report("unmount", exception);
            }
        }
    }

    private static unsafe void StatFsQuietly(string path)
    {
        byte* buffer = stackalloc byte[256];
        _ = FuseLibC.statfs(path, buffer);
    }

    /// <summary>A regular (non-lazy) unmount; false if it failed, typically with EBUSY.</summary>
    private static bool TryUnmountCleanly(string mountPoint)
    {
        if (LinuxFile.IsRoot)
        {
            return LinuxMount.TryUnmount(mountPoint) == 0;
        }

        return RunFusermount("-u", "-q", mountPoint) == 0;
    }

    private static void UnmountLazily(string mountPoint)
    {
        if (LinuxFile.IsRoot)
        {
            LinuxMount.UnmountLazily(mountPoint);
            return;
        }

        int exitCode = RunFusermount("-u", "-z", "-q", mountPoint);
        if (exitCode != 0)
        {
            throw new IOException($"fusermount3 -u -z '{mountPoint}' failed with exit code {exitCode}.");
        }
    }

    private static int RunFusermount(params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("fusermount3", arguments)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
        }) ?? throw new IOException("Could not start fusermount3.");
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode;
    }
}
