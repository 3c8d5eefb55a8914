using System.Text.RegularExpressions;
using Cairn.Tests.Support;
using System.Diagnostics;
using System.Runtime.Versioning;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;
using Cairn.Tests.Fuse;

namespace Cairn.Tests.Mount;

/// <summary>The <c>cairn mount</c> / <c>cairn umount</c> commands as separate processes: lifecycle, signals, daemon mode, stale mounts.</summary>
[Collection(FuseMountsDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed class MountCommandTests
{

    [FuseFact("kill")]
    public async Task A_foreground_mount_serves_until_SIGTERM_then_unmounts_and_exits_0()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        using var server = new MountProcess(Start(lab, "mount", snapshot.Id.ToString(), mountPoint, "--no-hydrate"));

        var ready = await server.ReadyAsync();
        Assert.StartsWith($"mounted snapshot {snapshot.Id.ToShortString()} at {mountPoint}", ready, StringComparison.Ordinal);
        Assert.Equal("hello\n", await File.ReadAllTextAsync(Path.Combine(mountPoint, "small.txt")));

        await ProcessRunner.RunTextAsync("kill", "-TERM", server.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, await server.ExitAsync());
        Assert.False(FuseMount.IsMountedAt(mountPoint));
        Assert.Contains("unmounted " + mountPoint, await server.Process.StandardError.ReadToEndAsync(), StringComparison.Ordinal);
    }

    [FuseFact]
    public async Task A_daemon_returns_once_mounted_and_umount_stops_it()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        Process? daemon = null;
        try
        {
            (_, daemon) = await StartDaemonAsync(lab, "mount", "--daemon", snapshot.Id.ToString(), mountPoint);
            Assert.True(FuseMount.IsMountedAt(mountPoint));
            TreeComparer.AssertSame(lab.Source, mountPoint);

            // With --json, the answer is an object too (it printed nothing).
            using var umount = System.Text.Json.JsonDocument.Parse(await CairnCli.RunTextAsync("--json", "umount", mountPoint));
            Assert.Equal(mountPoint, umount.RootElement.GetProperty("mountPoint").GetString());
            Assert.False(umount.RootElement.GetProperty("lazily").GetBoolean());
            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(30)), "the daemon did not exit after umount");
            Assert.False(FuseMount.IsMountedAt(mountPoint));

            var (exit, _, error) = await CairnCli.RunRawAsync(["umount", mountPoint]);
            Assert.Equal(2, exit);
            Assert.Contains("nothing is mounted", error, StringComparison.Ordinal);
        }
        finally
        {
            await StopAsync(daemon);
        }
    }

    /// <summary>
    /// A daemon that fails before it mounts: the parent repeats the child's own error and exit code, every time. The
    /// child's standard output ends a moment before the runtime reaps it, and the parent used to take that moment for a
    /// daemon that never answered (about one run in three), so this runs each failure 20 times.
    /// </summary>
    [FuseFact]
    public async Task A_daemon_that_fails_before_mounting_reports_its_own_error_and_exit_code_every_time()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        var notADirectory = Path.Combine(lab.Root, "a-file");
        await File.WriteAllTextAsync(notADirectory, "");
        for (var run = 1; run <= 20; run++)
        {
            var (exit, _, error) = await CairnCli.RunRawAsync(Arguments(lab, "mount", "--daemon", "nosuch", mountPoint));
            Assert.True(exit == 2 && error.Contains("no snapshot or tag 'nosuch'", StringComparison.Ordinal), $"run {run}, unknown snapshot: exit {exit}: {error}");

            (exit, _, error) = await CairnCli.RunRawAsync(["-r", lab.RepositoryPath, "mount", "--daemon", snapshot.Id.ToString(), mountPoint, "--cache-dir", notADirectory]);
            Assert.True(exit == 1 && error.Contains("cannot create the mount's cache in", StringComparison.Ordinal), $"run {run}, a file for a cache directory: exit {exit}: {error}");
        }

        // Refused by the parent, before there is a child.
        var missing = await CairnCli.RunRawAsync(Arguments(lab, "mount", "--daemon", snapshot.Id.ToString(), Path.Combine(lab.Root, "no-such-directory")));
        Assert.True(missing.ExitCode == 2 && missing.Error.Contains("is not an existing directory", StringComparison.Ordinal), $"missing mount point: exit {missing.ExitCode}: {missing.Error}");

        Assert.False(FuseMount.IsMountedAt(mountPoint));
    }

    /// <summary>
    /// With <c>--json</c> the child's error object comes on standard output, where the "mounted" object would: the
    /// parent used to take it for the answer and exit 0. The exit code and the object are those of the same command
    /// in the foreground, and the exit code that of the command without <c>--json</c>.
    /// </summary>
    [FuseFact]
    public async Task With_json_a_daemon_that_fails_exits_as_the_foreground_command_and_as_without_json()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        var notADirectory = Path.Combine(lab.Root, "a-file");
        await File.WriteAllTextAsync(notADirectory, "");
        (string Snapshot, string CacheDirectory, int Exit, string Code)[] failures =
        [
            ("nosuch", lab.CacheRoot, 2, "usage"),
            (snapshot.Id.ToString(), notADirectory, 1, "error"),
        ];
        foreach (var (name, cache, expectedExit, expectedCode) in failures)
        {
            string[] Mount(params string[] command) => ["-r", lab.RepositoryPath, .. command, name, mountPoint, "--cache-dir", cache];
            var foreground = await CairnCli.RunRawAsync(Mount("--json", "mount"));
            var withoutJson = await CairnCli.RunRawAsync(Mount("mount", "--daemon"));
            Assert.Equal(expectedExit, foreground.ExitCode);
            Assert.Equal(expectedExit, withoutJson.ExitCode);
            using (var error = System.Text.Json.JsonDocument.Parse(foreground.Output))
            {
                Assert.Equal(expectedCode, error.RootElement.GetProperty("error").GetProperty("code").GetString());
            }

            for (var run = 1; run <= 5; run++)
            {
                var daemon = await CairnCli.RunRawAsync(Mount("--json", "mount", "--daemon"));
                Assert.True(daemon.ExitCode == expectedExit, $"{name} with cache {cache}, run {run}: exit {daemon.ExitCode}: {System.Text.Encoding.UTF8.GetString(daemon.Output)}{daemon.Error}");
                Assert.Equal(System.Text.Encoding.UTF8.GetString(foreground.Output), System.Text.Encoding.UTF8.GetString(daemon.Output));
            }
        }

        Assert.False(FuseMount.IsMountedAt(mountPoint));
    }

    [FuseFact("kill")]
    public async Task A_mount_left_by_a_killed_server_is_cleaned_up_by_the_next_mount()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        using (var crashed = new MountProcess(Start(lab, "mount", snapshot.Id.ToString(), mountPoint)))
        {
            await crashed.ReadyAsync();
            crashed.Process.Kill(); // SIGKILL: no chance to unmount
            await crashed.ExitAsync();
        }

        Assert.True(FuseMount.IsMountedAt(mountPoint));
        Assert.ThrowsAny<IOException>(() => Directory.GetFiles(mountPoint));

        using var server = new MountProcess(Start(lab, "mount", snapshot.Id.ToString(), mountPoint));
        await server.ReadyAsync();
        Assert.Equal("hello\n", await File.ReadAllTextAsync(Path.Combine(mountPoint, "small.txt")));
        await ProcessRunner.RunTextAsync("kill", "-INT", server.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, await server.ExitAsync());
        Assert.Contains("detached a stale mount", await server.Process.StandardError.ReadToEndAsync(), StringComparison.Ordinal);
        Assert.False(FuseMount.IsMountedAt(mountPoint));
    }

    [FuseFact("kill")]
    public async Task A_writable_daemon_takes_changes_snapshots_them_from_the_mount_and_umount_removes_both_mounts()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        var layers = lab.NewLayersDirectory();
        var lower = Path.Combine(layers, "lower");
        Process? daemon = null;
        try
        {
            (var line, daemon) = await StartDaemonAsync(lab, "mount", "--daemon", "--writable", "--upper", layers, snapshot.Id.ToString(), mountPoint);
            Assert.Contains($"writable, changes in {layers}/upper", line, StringComparison.Ordinal);
            Assert.Equal("overlay", MountTable.Find(mountPoint)?.Type);
            Assert.Equal("fuse.cairn", MountTable.Find(lower)?.Type);

            await File.WriteAllTextAsync(Path.Combine(mountPoint, "small.txt"), "written through the overlay\n");
            File.Delete(Path.Combine(mountPoint, "other.bin"));
            var saved = await CairnCli.RunAsync(lab.RepositoryPath, "--json", "snapshot", "--from-mount", mountPoint, "--tag", "changed");
            Assert.True(saved.ExitCode == 0, saved.ToString());
            Assert.Equal(snapshot.Id.ToString(), saved.Json.GetProperty("parent").GetString());
            Assert.Equal(1, saved.Json.GetProperty("stats").GetProperty("files").GetInt64() - saved.Json.GetProperty("stats").GetProperty("unchangedFiles").GetInt64());

            // Refused: a directory that is not a writable mount, and a mount of another repository.
            var plain = await CairnCli.RunAsync(lab.RepositoryPath, "snapshot", "--from-mount", lab.Source);
            Assert.Equal(2, plain.ExitCode);
            Assert.Contains("is not a writable Cairn mount", plain.Stderr, StringComparison.Ordinal);
            var other = Path.Combine(lab.Root, "other-repo");
            Assert.Equal(0, (await CairnCli.RunAsync(other, "init")).ExitCode);
            var foreign = await CairnCli.RunAsync(other, "snapshot", "--from-mount", mountPoint);
            Assert.Equal(2, foreign.ExitCode);
            Assert.Contains($"is a mount of repository {lab.RepositoryPath}", foreign.Stderr, StringComparison.Ordinal);
            var bound = await CairnCli.RunAsync(lab.RepositoryPath, "snapshot", "--from-mount", mountPoint, "--relayout-above", "5"); // a tree's mount
            Assert.Equal(2, bound.ExitCode);
            Assert.Contains("--relayout-above applies to image snapshots", bound.Stderr, StringComparison.Ordinal);

            var umount = await CairnCli.RunTextAsync("umount", mountPoint);
            Assert.Equal("unmounted " + mountPoint, umount);
            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(30)), "the daemon did not exit after umount");
            Assert.Null(MountTable.Find(mountPoint));
            Assert.Null(MountTable.Find(lower));
            Assert.Equal("written through the overlay\n", await File.ReadAllTextAsync(Path.Combine(layers, "upper", "small.txt")));
        }
        finally
        {
            await StopAsync(daemon);
        }
    }

    [FuseFact("kill")]
    public async Task A_writable_mount_left_by_a_killed_server_is_cleaned_up_by_the_next_mount()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        var layers = lab.NewLayersDirectory();
        var lower = Path.Combine(layers, "lower");
        using (var crashed = new MountProcess(Start(lab, "mount", "--writable", "--upper", layers, snapshot.Id.ToString(), mountPoint)))
        {
            await crashed.ReadyAsync();
            await File.WriteAllTextAsync(Path.Combine(mountPoint, "kept.txt"), "survives the crash\n");
            crashed.Process.Kill(); // SIGKILL: no chance to unmount
            await crashed.ExitAsync();
        }

        Assert.Equal("overlay", MountTable.Find(mountPoint)?.Type);
        Assert.True(FuseMount.IsStale(lower));

        using var server = new MountProcess(Start(lab, "mount", "--writable", "--upper", layers, snapshot.Id.ToString(), mountPoint));
        await server.ReadyAsync();
        Assert.Equal("hello\n", await File.ReadAllTextAsync(Path.Combine(mountPoint, "small.txt")));
        Assert.Equal("survives the crash\n", await File.ReadAllTextAsync(Path.Combine(mountPoint, "kept.txt")));
        await ProcessRunner.RunTextAsync("kill", "-TERM", server.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, await server.ExitAsync());
        Assert.Contains("detached a stale mount", await server.Process.StandardError.ReadToEndAsync(), StringComparison.Ordinal);
        Assert.Null(MountTable.Find(mountPoint));
        Assert.Null(MountTable.Find(lower));
    }

    /// <summary>
    /// A mount on a point where a live Cairn mount is would stack on it: the old one would serve on out of sight, and
    /// <c>cairn umount</c> would take the new one away. Refused, read-only or writable, and the first keeps serving.
    /// </summary>
    [FuseFact("kill")]
    public async Task A_mount_where_a_live_Cairn_mount_is_is_refused_and_the_first_keeps_serving()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var readOnly = lab.NewMountPoint();
        var writable = lab.NewMountPoint();
        Process? first = null;
        Process? second = null;
        try
        {
            (_, first) = await StartDaemonAsync(lab, "mount", "--daemon", snapshot.Id.ToString(), readOnly);
            (_, second) = await StartDaemonAsync(lab, "mount", "--daemon", "--writable", "--upper", lab.NewLayersDirectory(), snapshot.Id.ToString(), writable);
            foreach (var (point, what) in new[] { (readOnly, "the mount of snapshot"), (writable, "the writable mount of snapshot") })
            {
                foreach (var extra in new[] { new[] { "--daemon" }, [], ["--writable"] })
                {
                    var (exit, _, error) = await CairnCli.RunRawAsync(Arguments(lab, ["mount", .. extra, snapshot.Id.ToString(), point]));
                    Assert.True(exit == 2 && error.Contains($"holds {what} {snapshot.Id.ToShortString()}: unmount it first", StringComparison.Ordinal), $"{point} {string.Join(' ', extra)}: exit {exit}: {error}");
                }

                Assert.Equal("hello\n", await File.ReadAllTextAsync(Path.Combine(point, "small.txt")));
            }

            Assert.Equal("fuse.cairn", MountTable.Find(readOnly)?.Type);
            Assert.Equal("overlay", MountTable.Find(writable)?.Type);
            Assert.False(first.HasExited || second.HasExited);
        }
        finally
        {
            await StopAsync(first);
            await StopAsync(second);
        }
    }

    /// <summary>
    /// A writable mount's server stops when its overlay leaves the mount table. A mount stacked on the overlay (by
    /// root, on purpose or by mistake) hides it without unmounting it: the server took that for an unmount and exited,
    /// leaving the overlay over a dead lower mount.
    /// </summary>
    [FuseFact("kill", NeedsRoot = true)]
    public async Task A_writable_mount_covered_by_another_mount_keeps_serving()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        Process? daemon = null;
        try
        {
            (_, daemon) = await StartDaemonAsync(lab, "mount", "--daemon", "--writable", "--upper", lab.NewLayersDirectory(), snapshot.Id.ToString(), mountPoint);
            LinuxMount.Mount("cairn-test", mountPoint, "tmpfs", "size=1m");
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(2.5)); // the server looks at its overlay once a second
            }
            finally
            {
                LinuxMount.UnmountLazily(mountPoint); // the tmpfs, on top
            }

            Assert.Equal("overlay", MountTable.Find(mountPoint)?.Type);
            Assert.False(daemon.HasExited, "the server exited when a mount covered its overlay");
            Assert.Equal("hello\n", await File.ReadAllTextAsync(Path.Combine(mountPoint, "small.txt")));
        }
        finally
        {
            await StopAsync(daemon);
        }
    }

    /// <summary>
    /// <c>cairn umount</c> of a busy writable mount detaches it lazily. A file open through the overlay reads from the
    /// snapshot mount under it, which must then be served until that file is closed, as a read-only mount is (its
    /// server ended the snapshot's session at once, and the open file read ENOTCONN). Then the server exits.
    /// </summary>
    [FuseFact("kill")]
    public async Task A_busy_writable_mount_unmounted_serves_its_open_files_until_they_are_closed()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        var lower = Path.Combine(lab.NewLayersDirectory(), "lower");
        Process? daemon = null;
        try
        {
            (_, daemon) = await StartDaemonAsync(lab, "mount", "--daemon", "--writable", "--upper", Path.GetDirectoryName(lower)!, "--no-hydrate", snapshot.Id.ToString(), mountPoint);
            var expected = await File.ReadAllBytesAsync(Path.Combine(lab.Source, "other.bin"));
            using (var open = File.OpenHandle(Path.Combine(mountPoint, "other.bin")))
            {
                Assert.Contains("lazily", await CairnCli.RunTextAsync("umount", mountPoint), StringComparison.Ordinal);
                Assert.Null(MountTable.Find(mountPoint));
                await Task.Delay(TimeSpan.FromSeconds(2.5)); // the server looks at its overlay once a second
                var read = new byte[expected.Length];
                Assert.Equal(expected.Length, RandomAccess.Read(open, read, 0));
                Assert.Equal(expected, read);
                Assert.False(daemon.HasExited, "the server exited with a file still open");
            }

            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(30)), "the server did not exit once the last file was closed");
            Assert.Null(MountTable.Find(lower));
        }
        finally
        {
            await StopAsync(daemon);
        }
    }

    [FuseFact]
    public async Task A_log_file_that_cannot_be_written_is_refused_before_mounting()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        foreach (var daemon in new[] { new[] { "--daemon" }, [] })
        {
            var (exit, _, error) = await CairnCli.RunRawAsync(Arguments(lab, ["mount", .. daemon, snapshot.Id.ToString(), mountPoint, "--log", Path.Combine(lab.Root, "no-such-directory", "mount.log")]));
            Assert.True(exit == 2 && error.Contains("cannot write the log file", StringComparison.Ordinal), $"{string.Join(' ', daemon)}: exit {exit}: {error}");
            Assert.Null(MountTable.Find(mountPoint));
        }
    }

    /// <summary>
    /// An --upper path with ',' and ':' (and ' ' and '\'), escaped for overlayfs when mounted, is shown by the mount
    /// table with those escapes: snapshot --from-mount, umount and the next mount after a crash must remove them to
    /// find the mount. They said it was not a writable Cairn mount, that nothing was mounted, and mounted over the
    /// crashed one.
    /// </summary>
    [FuseFact("kill")]
    public async Task A_writable_mount_whose_upper_path_has_commas_and_colons_is_found_by_snapshot_umount_and_the_next_mount()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        var layers = lab.NewLayersDirectory(@"ov,a:b c\d");
        using (var crashed = new MountProcess(Start(lab, "mount", "--writable", "--upper", layers, snapshot.Id.ToString(), mountPoint)))
        {
            await crashed.ReadyAsync();
            await File.WriteAllTextAsync(Path.Combine(mountPoint, "new.txt"), "through the overlay\n");
            Assert.Equal("through the overlay\n", await File.ReadAllTextAsync(Path.Combine(layers, "upper", "new.txt")));
            var saved = await CairnCli.RunAsync(lab.RepositoryPath, "--json", "snapshot", "--from-mount", mountPoint);
            Assert.True(saved.ExitCode == 0, saved.ToString());
            Assert.Equal(snapshot.Id.ToString(), saved.Json.GetProperty("parent").GetString());
            crashed.Process.Kill(); // SIGKILL: no chance to unmount
            await crashed.ExitAsync();
        }

        using (var server = new MountProcess(Start(lab, "mount", "--writable", "--upper", layers, snapshot.Id.ToString(), mountPoint)))
        {
            await server.ReadyAsync();
            Assert.Equal("through the overlay\n", await File.ReadAllTextAsync(Path.Combine(mountPoint, "new.txt")));
            Assert.Equal("unmounted " + mountPoint, await CairnCli.RunTextAsync("umount", mountPoint));
            Assert.Equal(0, await server.ExitAsync());
            Assert.Contains("detached a stale mount", await server.Process.StandardError.ReadToEndAsync(), StringComparison.Ordinal);
        }

        Assert.Null(MountTable.Find(mountPoint));
        Assert.Null(MountTable.Find(Path.Combine(layers, "lower")));
    }

    /// <summary>
    /// Interrupted while its server has not answered yet (here: an S3 endpoint that accepts connections and never
    /// replies), mount --daemon stops that server and says so, exit 130. It exited and left the server to mount later,
    /// unseen.
    /// </summary>
    [Fact]
    public async Task A_daemon_interrupted_before_its_server_answers_stops_it()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start(); // the kernel completes the connections; nothing ever answers them
        var endpoint = $"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}";
        using var temp = new TempDir();
        var environment = new Dictionary<string, string> { ["AWS_ACCESS_KEY_ID"] = "x", ["AWS_SECRET_ACCESS_KEY"] = "y", ["AWS_REGION"] = "us-east-1" };
        using var parent = CairnCli.Start("s3://bucket/prefix", ["--s3-endpoint", endpoint, "mount", "latest", temp.CreateSub("mnt"), "--daemon"], environment);
        var stderr = parent.StandardError.ReadToEndAsync();
        var stdout = parent.StandardOutput.ReadToEndAsync();
        try
        {
            // Once its server is started, the parent has its signal handlers.
            var started = Stopwatch.StartNew();
            while (ChildrenOf(parent.Id).Count == 0 && Directory.Exists($"/proc/{parent.Id}") && started.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(20);
            }

            Assert.True(Directory.Exists($"/proc/{parent.Id}") && ChildrenOf(parent.Id).Count > 0, $"no server started: {(parent.WaitForExit(1000) ? await stderr : "(still running)")}");
            await ProcessRunner.RunTextAsync("kill", "-INT", parent.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(parent.WaitForExit(TimeSpan.FromSeconds(30)), "the parent did not exit");
            var error = await stderr;
            Assert.Equal(130, parent.ExitCode);
            Assert.Matches(@"^cairn: interrupted \(SIGINT\): stopped the mount daemon \(pid (\d+)\) before it mounted\n$", error);
            var child = Regex.Match(error, @"pid (\d+)").Groups[1].Value;
            Assert.False(Directory.Exists($"/proc/{child}"), $"the mount daemon {child} is still there");
            Assert.Empty(await stdout);
        }
        finally
        {
            if (!parent.HasExited)
            {
                parent.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>The processes whose parent is <paramref name="pid"/> (field 4 of /proc/PID/stat).</summary>
    private static List<int> ChildrenOf(int pid)
    {
        var children = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var candidate))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[1] == pid.ToString(System.Globalization.CultureInfo.InvariantCulture))
                {
                    children.Add(candidate);
                }
            }
            catch (IOException)
            {
                // gone meanwhile
            }
        }

        return children;
    }

    /// <summary>Mounting over a directory that holds something works, as FUSE allows, but says that it hides it (it did not).</summary>
    [FuseFact]
    public async Task Mounting_over_a_directory_that_is_not_empty_says_it_hides_its_contents()
    {
        await using var lab = await MountLab.CreateAsync();
        var snapshot = await lab.SnapshotAsync();
        var mountPoint = lab.NewMountPoint();
        await File.WriteAllTextAsync(Path.Combine(mountPoint, "mine.txt"), "mine");
        Process? daemon = null;
        try
        {
            var (exit, output, error) = await CairnCli.RunRawAsync(Arguments(lab, ["mount", "--daemon", snapshot.Id.ToString(), mountPoint]));
            Assert.True(exit == 0, error);
            var line = System.Text.Encoding.UTF8.GetString(output);
            daemon = Process.GetProcessById(int.Parse(line.Split("(pid ")[1].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal($"cairn: warning: {mountPoint} is not empty: what it holds is hidden while the snapshot is mounted", error.TrimEnd());
            Assert.False(File.Exists(Path.Combine(mountPoint, "mine.txt")));

            await CairnCli.RunTextAsync("umount", mountPoint);
            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(30)), "the daemon did not exit after umount");
            Assert.Equal("mine", await File.ReadAllTextAsync(Path.Combine(mountPoint, "mine.txt")));
        }
        finally
        {
            await StopAsync(daemon);
        }
    }

    /// <summary>Runs <c>cairn mount --daemon …</c>: its "mounted" line and the daemon it left serving.</summary>
    private static async Task<(string Line, Process Daemon)> StartDaemonAsync(MountLab lab, params string[] command)
    {
        var (exit, output, error) = await CairnCli.RunRawAsync(Arguments(lab, command));
        var line = System.Text.Encoding.UTF8.GetString(output);
        Assert.True(exit == 0, error);
        return (line, Process.GetProcessById(int.Parse(line.Split("(pid ")[1].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>Kills a daemon the test left running (by its PID).</summary>
    private static async Task StopAsync(Process? daemon)
    {
        if (daemon is { HasExited: false })
        {
            daemon.Kill();
            await daemon.WaitForExitAsync();
        }

        daemon?.Dispose();
    }

    private static string[] Arguments(MountLab lab, params string[] command) => ["-r", lab.RepositoryPath, .. command, "--cache-dir", lab.CacheRoot];

    /// <summary>
    /// Starts <c>cairn</c> in the foreground, as from a terminal: with SIGINT's default action restored (by
    /// <c>env</c>, which then execs it, keeping the PID). A test run launched in the background by a non-interactive
    /// shell inherits SIGINT ignored, and a process that starts with SIGINT ignored keeps ignoring it, as it should.
    /// </summary>
    private static Process Start(MountLab lab, params string[] command)
    {
        var info = new ProcessStartInfo("env") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("--default-signal=INT");
        foreach (var argument in CairnCli.Launcher.Concat(Arguments(lab, command)))
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info)!;
    }

    /// <summary>A <c>cairn mount</c> process in the foreground; killed (by its PID) if the test leaves it running.</summary>
    private sealed class MountProcess(Process process) : IDisposable
    {
        public Process Process { get; } = process;

        public async Task<string> ReadyAsync()
        {
            var line = await Process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line is null)
            {
                Assert.Fail("cairn mount exited before mounting: " + await Process.StandardError.ReadToEndAsync());
            }

            return line;
        }

        public async Task<int> ExitAsync()
        {
            try
            {
                await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                // Say where the server is stuck before the test kills it: each thread's name, state and kernel wait.
                var threads = string.Join("\n", Directory.EnumerateDirectories($"/proc/{Process.Id}/task").Select(Describe));
                Process.Kill();
                Assert.Fail($"cairn mount did not exit within 30 s. Its threads:\n{threads}\nIts standard error:\n{await Process.StandardError.ReadToEndAsync()}");
            }

            return Process.ExitCode;
        }

        private static string Describe(string task)
        {
            static string Read(string path)
            {
                try
                {
                    return File.ReadAllText(path).Trim();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return e.Message;
                }
            }

            var state = Read(Path.Combine(task, "stat")).Split(") ").ElementAtOrDefault(1)?.Split(' ')[0];
            return $"{Path.GetFileName(task)} {Read(Path.Combine(task, "comm"))} {state} wchan={Read(Path.Combine(task, "wchan"))} {Read(Path.Combine(task, "stack")).Replace('\n', ' ')}";
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill();
                Process.WaitForExit();
            }

            Process.Dispose();
        }
    }
}
