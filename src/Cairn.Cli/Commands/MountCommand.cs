using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Cairn.Diagnostics;
using Cairn.Mount;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;
using Cairn.Snapshot;

namespace Cairn.Cli.Commands;

/// <summary>
/// <c>cairn mount SNAPSHOT MOUNTPOINT</c>: serves the snapshot until it is unmounted (<c>cairn umount</c>, umount,
/// fusermount3 -u) or the process gets SIGINT, SIGTERM or SIGHUP, which unmount cleanly. In the foreground by default
/// (what supervisors and sandbox orchestrators expect: the process is the mount's lifetime, its exit status says how
/// it ended); <c>--daemon</c> runs the same command detached and returns once the mount answers. With
/// <c>--writable</c> an overlay on top takes the changes (<see cref="WritableMount"/>).
/// </summary>
internal static class MountCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = $"The snapshot: {GlobalOptions.SnapshotForms}." };
        var mountPoint = new Argument<string>("mountpoint") { Description = "An existing directory to mount it on (a stale mount left there by a crashed server is cleaned up first)." };
        var daemon = new Option<bool>("--daemon", "-d") { Description = "Detach: serve in the background and return as soon as the mount answers." };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Root of the frame caches (one directory per repository, shared by all its mounts). Default: $XDG_CACHE_HOME/cairn, else ~/.cache/cairn." };
        var cacheSize = new Option<string>("--cache-size") { Description = "Most disk space the repository's frame cache may use, e.g. 2G, 500M, 0 for none.", DefaultValueFactory = _ => "2G" };
        var noHydrate = new Option<bool>("--no-hydrate") { Description = "Do not fetch the rest of the snapshot in the background; fetch only what is read (and what the trace predicts)." };
        var noTrace = new Option<bool>("--no-trace") { Description = "Neither record which data the workload reads first nor prefetch by a recorded trace." };
        var noPush = new Option<bool>("--no-push") { Description = "Do not put a directory's other small files into the kernel's page cache when one of them is read (each is then read through FUSE)." };
        var allowOther = new Option<bool>("--allow-other") { Description = "Let other users access the mount (non-root needs user_allow_other in /etc/fuse.conf)." };
        var log = new Option<string?>("--log") { Description = "Append log lines (errors, prefetch and hydration progress) to this file instead of standard error." };
        var writable = new Option<bool>("--writable", "-w") { Description = "Put an overlay on top that takes every change (the snapshot itself never changes); 'cairn snapshot --from-mount' saves them." };
        var upper = new Option<string?>("--upper") { Description = "With --writable: keep the changes in this directory (DIR/upper; created if needed; reused if it holds changes to the same snapshot). Default: a new directory under $XDG_STATE_HOME/cairn/overlays, else ~/.local/state/cairn/overlays." };
        var overlay = new Option<string?>("--overlay") { Description = "With --writable: 'kernel' (overlayfs, needs root) or 'fuse' (fuse-overlayfs). Default: kernel as root, else fuse." };
        overlay.AcceptOnlyFromAmong("kernel", "fuse");
        var command = new Command("mount", "Mount a snapshot, read-only or (--writable) with an overlay for changes; its data is fetched (and verified) as it is read, then hydrated in the background.")
        {
            snapshot, mountPoint, daemon, cacheDir, cacheSize, noHydrate, noTrace, noPush, allowOther, log, writable, upper, overlay,
        };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            if (!OperatingSystem.IsLinux())
            {
                throw new UsageException("mounting needs Linux (FUSE)");
            }

            var parse = context.ParseResult;
            if (!parse.GetValue(writable) && (parse.GetValue(upper) is not null || parse.GetValue(overlay) is not null))
            {
                throw new UsageException("--upper and --overlay need --writable");
            }

            var target = Path.GetFullPath(parse.GetValue(mountPoint)!);
            // A mount whose server died fails stat (ENOTCONN): it is there, and the server detaches it first.
            if (!Directory.Exists(target) && MountTable.Find(target) is null)
            {
                throw new UsageException($"the mount point '{target}' is not an existing directory");
            }

            if (!MountDaemon.IsDetachedChild)
            {
                MountPoints.ThrowIfCairnMount(target); // the daemon's parent, before it starts the child: which checks again as it mounts
            }

            // Said by the process the user sees (the daemon's parent, not its detached child). FUSE mounts over a
            // non-empty directory, and what it holds is then out of sight until the unmount: allowed, not silently. On
            // standard error, also with --json, whose answer is on standard output.
            if (!MountDaemon.IsDetachedChild && HoldsEntries(target))
            {
                Console.Error.WriteLine($"cairn: warning: {target} is not empty: what it holds is hidden while the snapshot is mounted");
            }

            if (parse.GetValue(daemon) && !MountDaemon.IsDetachedChild)
            {
                return await MountDaemon.StartAsync(context, ct).ConfigureAwait(false);
            }

            var options = new MountOptions
            {
                CacheRoot = parse.GetValue(cacheDir) is { } dir ? Path.GetFullPath(dir) : null,
                CacheSize = Formatting.ParseBytes(parse.GetValue(cacheSize)!, "--cache-size"),
                Hydrate = !parse.GetValue(noHydrate),
                Trace = !parse.GetValue(noTrace),
                PushSiblings = !parse.GetValue(noPush),
                Fuse = new FuseMountOptions { AllowOther = parse.GetValue(allowOther) },
                Log = MountLog.Create(parse.GetValue(log), detached: MountDaemon.IsDetachedChild),
            };
            var writableOptions = parse.GetValue(writable)
                ? new WritableOptions
                {
                    Directory = parse.GetValue(upper) is { } upperDir ? Path.GetFullPath(upperDir) : null,
                    Overlay = parse.GetValue(overlay) switch { "kernel" => OverlayFlavor.Kernel, "fuse" => OverlayFlavor.FuseOverlayfs, _ => null },
                    RepositoryLocation = context.RepositoryLocation,
                }
                : null;
            return await ServeAsync(context, parse.GetValue(snapshot)!, target, options, writableOptions, ct).ConfigureAwait(false);
        }));
        return command;
    }

    /// <summary>Whether the directory <paramref name="path"/> has entries; false if it is not a readable directory (the mount reports that).</summary>
    private static bool HoldsEntries(string path)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(path).Any();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [SupportedOSPlatform("linux")]
    private static async Task<int> ServeAsync(CliContext context, string reference, string mountPoint, MountOptions options, WritableOptions? writable, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        if (MountDaemon.IsDetachedChild)
        {
            MountDaemon.Detach();
        }

        PhaseTrace.Mark("mount: command parsed");
        var opened = await context.OpenSnapshotAsync(reference, ct).ConfigureAwait(false);
        await using var repository = opened.Repository;
        var record = opened.Snapshot;
        PhaseTrace.Mark("mount: repository opened and snapshot resolved");
        await using IMountSession mount = writable is null
            ? await SnapshotMount.StartAsync(repository, record, mountPoint, options, ct).ConfigureAwait(false)
            : await WritableMount.StartAsync(repository, record, mountPoint, writable, options, ct).ConfigureAwait(false);
        var changes = (mount as WritableMount)?.Directory.Upper;

        // This process is on the data path of every read in the mount: its code, once used, must not be paged out
        // (memory pressure, or a dropped page cache, would otherwise stall requests while it is read back from disk).
        LinuxProcess.LockFileMappingsOnFault();

        // From here on a signal unmounts instead of killing the process (which would leave a dead mount behind).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        void OnSignal(PosixSignalContext signal)
        {
            signal.Cancel = true;
            stop.Cancel();
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);

        var seconds = Math.Round(started.Elapsed.TotalSeconds, 3);
        if (context.Json)
        {
            CliContext.WriteJson(new MountOutput(record.Id.ToString(), mountPoint, Environment.ProcessId, mount.CacheDirectory, changes, seconds), CliJsonContext.Default.MountOutput);
        }
        else
        {
            var how = changes is null ? "" : $" writable, changes in {changes}";
            Console.Out.WriteLine($"{MountDaemon.ReadyPrefix} snapshot {record.Id.ToShortString()} at {mountPoint}{how} (pid {Environment.ProcessId}, {seconds:0.000} s)");
        }

        Console.Out.Flush();
        if (MountDaemon.IsDetachedChild)
        {
            MountDaemon.LeaveWorkingDirectory();
        }

        try
        {
            await mount.WaitAsync(stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            mount.Unmount();
        }

        await mount.DisposeAsync().ConfigureAwait(false);
        var s = mount.Statistics;
        options.Log!($"unmounted {mountPoint}: {s.Reads:N0} reads, {Formatting.Bytes(s.BytesServed)} served, {s.FilesPushed:N0} files ({Formatting.Bytes(s.BytesPushed)}) pushed to the page cache, {s.DemandFetches:N0} frames fetched on demand, {s.BackgroundFrames:N0} in the background ({Formatting.Bytes(s.FetchedBytes)}), {s.ReadErrors:N0} read errors");
        return 0;
    }
}
