using Cairn.Tests.Support;
using System.Diagnostics;
using System.Runtime.Versioning;
using Cairn.Native.Fuse;
using Cairn.Tests.Fuse;

namespace Cairn.Tests.Mount;

/// <summary>The <c>cairn mount</c> / <c>cairn umount</c> commands as separate processes: lifecycle, signals, daemon mode, stale mounts.</summary>
[Collection(FuseMountsDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed class MountCommandTests
{
    private static readonly string s_cairn = Path.Combine(AppContext.BaseDirectory, "cairn");

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
            var (exit, output, error) = await ProcessRunner.RunAsync(s_cairn, Arguments(lab, "mount", "--daemon", snapshot.Id.ToString(), mountPoint));
            var line = System.Text.Encoding.UTF8.GetString(output);
            Assert.True(exit == 0, error);
            daemon = Process.GetProcessById(int.Parse(line.Split("(pid ")[1].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(FuseMount.IsMountedAt(mountPoint));
            TreeComparer.AssertSame(lab.Source, mountPoint);

            var umount = await ProcessRunner.RunTextAsync(s_cairn, "umount", mountPoint);
            Assert.Equal("unmounted " + mountPoint, umount);
            Assert.True(daemon.WaitForExit(TimeSpan.FromSeconds(30)), "the daemon did not exit after umount");
            Assert.False(FuseMount.IsMountedAt(mountPoint));

            (exit, _, error) = await ProcessRunner.RunAsync(s_cairn, ["umount", mountPoint]);
            Assert.Equal(2, exit);
            Assert.Contains("nothing is mounted", error, StringComparison.Ordinal);
        }
        finally
        {
            if (daemon is { HasExited: false })
            {
                daemon.Kill();
                await daemon.WaitForExitAsync();
            }

            daemon?.Dispose();
        }
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

    private static string[] Arguments(MountLab lab, params string[] command) => ["-r", lab.RepositoryPath, .. command, "--cache-dir", lab.CacheRoot];

    private static Process Start(MountLab lab, params string[] command)
    {
        var info = new ProcessStartInfo(s_cairn) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in Arguments(lab, command))
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
            await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return Process.ExitCode;
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
