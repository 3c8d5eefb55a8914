using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Cairn.Diagnostics;
using Cairn.Mount;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;

namespace Cairn.Cli.Commands;

/// <summary>
/// <c>cairn mount SNAPSHOT MOUNTPOINT</c>: serves the snapshot until it is unmounted (<c>cairn umount</c>, umount,
/// fusermount3 -u) or the process gets SIGINT, SIGTERM or SIGHUP, which unmount cleanly. In the foreground by default
/// (what supervisors and sandbox orchestrators expect: the process is the mount's lifetime, its exit status says how
/// it ended); <c>--daemon</c> runs the same command detached and returns once the mount answers.
/// </summary>
internal static class MountCommand
{
    public static Command Create()
    {
        var snapshot = new Argument<string>("snapshot") { Description = "The snapshot: id, unique id prefix, or tag." };
        var mountPoint = new Argument<string>("mountpoint") { Description = "An existing directory to mount it on (a stale mount left there by a crashed server is cleaned up first)." };
        var daemon = new Option<bool>("--daemon", "-d") { Description = "Detach: serve in the background and return as soon as the mount answers." };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Root of the frame caches (one directory per repository, shared by all its mounts). Default: $XDG_CACHE_HOME/cairn, else ~/.cache/cairn." };
        var cacheSize = new Option<string>("--cache-size") { Description = "Most disk space the repository's frame cache may use, e.g. 2G, 500M, 0 for none.", DefaultValueFactory = _ => "2G" };
        var noHydrate = new Option<bool>("--no-hydrate") { Description = "Do not fetch the rest of the snapshot in the background; fetch only what is read (and what the trace predicts)." };
        var noTrace = new Option<bool>("--no-trace") { Description = "Neither record which data the workload reads first nor prefetch by a recorded trace." };
        var allowOther = new Option<bool>("--allow-other") { Description = "Let other users access the mount (non-root needs user_allow_other in /etc/fuse.conf)." };
        var log = new Option<string?>("--log") { Description = "Append log lines (errors, prefetch and hydration progress) to this file instead of standard error." };
        var command = new Command("mount", "Mount a snapshot read-only; its data is fetched (and verified) as it is read, then hydrated in the background.")
        {
            snapshot, mountPoint, daemon, cacheDir, cacheSize, noHydrate, noTrace, allowOther, log,
        };
        command.SetAction(CliContext.Run(async (context, ct) =>
        {
            if (!OperatingSystem.IsLinux())
            {
                throw new UsageException("mounting needs Linux (FUSE)");
            }

            var parse = context.ParseResult;
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
                Fuse = new FuseMountOptions { AllowOther = parse.GetValue(allowOther) },
                Log = MountLog.Create(parse.GetValue(log), detached: MountDaemon.IsDetachedChild),
            };
            return await ServeAsync(context, parse.GetValue(snapshot)!, Path.GetFullPath(parse.GetValue(mountPoint)!), options, ct).ConfigureAwait(false);
        }));
        return command;
    }

    [SupportedOSPlatform("linux")]
    private static async Task<int> ServeAsync(CliContext context, string reference, string mountPoint, MountOptions options, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        if (MountDaemon.IsDetachedChild)
        {
            MountDaemon.Detach();
        }

        PhaseTrace.Mark("mount: command parsed");
        await using var repository = await context.OpenRepositoryAsync(ct).ConfigureAwait(false);
        PhaseTrace.Mark("mount: repository opened");
        var record = await repository.ResolveAsync(reference, ct).ConfigureAwait(false);
        PhaseTrace.Mark("mount: snapshot resolved");
        await using var mount = await SnapshotMount.StartAsync(repository, record, mountPoint, options, ct).ConfigureAwait(false);

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
            CliContext.WriteJson(new MountOutput(record.Id.ToString(), mountPoint, Environment.ProcessId, mount.CacheDirectory, seconds), CliJsonContext.Default.MountOutput);
        }
        else
        {
            Console.Out.WriteLine($"{MountDaemon.ReadyPrefix} snapshot {record.Id.ToShortString()} at {mountPoint} (pid {Environment.ProcessId}, {seconds:0.000} s)");
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
        options.Log!($"unmounted {mountPoint}: {s.Reads:N0} reads, {Formatting.Bytes(s.BytesServed)} served, {s.DemandFetches:N0} frames fetched on demand, {s.BackgroundFrames:N0} in the background ({Formatting.Bytes(s.FetchedBytes)}), {s.ReadErrors:N0} read errors");
        return 0;
    }
}
