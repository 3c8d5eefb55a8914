using System.Diagnostics;
using Cairn.Native.Linux;

namespace Cairn.Cli.Commands;

/// <summary>
/// <c>cairn mount --daemon</c>: runs this same command line again as a detached child (new session, no terminal),
/// relays its first line (the "mounted" line, or its error) and returns once the mount answers, leaving the child to
/// serve it. The child knows itself by an environment variable.
/// </summary>
internal static class MountDaemon
{
    public const string ReadyPrefix = "mounted";
    private const string ChildVariable = "CAIRN_MOUNT_DETACHED";
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromMinutes(5);

    public static bool IsDetachedChild => Environment.GetEnvironmentVariable(ChildVariable) == "1";

    /// <summary>In the child: a session of its own, so the terminal closing (SIGHUP) or Ctrl-C in it does not reach it.</summary>
    public static void Detach() => LinuxProcess.StartSession();

    /// <summary>In the child, once mounted: every path is resolved, so stop pinning the directory it was started from.</summary>
    public static void LeaveWorkingDirectory() => Directory.SetCurrentDirectory("/");

    public static async Task<int> StartAsync(CliContext context, CancellationToken cancellationToken)
    {
        var executable = Environment.ProcessPath ?? throw new CairnException("cannot find the cairn executable to start the daemon");
        var info = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (Path.GetFileNameWithoutExtension(executable) == "dotnet")
        {
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, typeof(MountDaemon).Assembly.GetName().Name + ".dll")); // run as `dotnet cairn.dll`
        }

        foreach (var argument in Environment.GetCommandLineArgs().Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment[ChildVariable] = "1";
        using var child = Process.Start(info) ?? throw new CairnException("cannot start the mount daemon");
        child.StandardInput.Close();
        var errors = child.StandardError.ReadToEndAsync(cancellationToken);
        var exited = child.WaitForExitAsync(cancellationToken);
        var line = child.StandardOutput.ReadLineAsync(cancellationToken).AsTask();
        var first = await Task.WhenAny(line, exited, Task.Delay(s_readyTimeout, cancellationToken)).ConfigureAwait(false);
        if (first == line && await line.ConfigureAwait(false) is { } ready)
        {
            Console.Out.WriteLine(ready);
            return 0;
        }

        if (!child.HasExited)
        {
            child.Kill();
            throw new CairnException($"the mount daemon (pid {child.Id}) did not answer within {s_readyTimeout.TotalMinutes:0} minutes; stopped it");
        }

        await child.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        var message = (await errors.ConfigureAwait(false)).TrimEnd();
        if (context.Json)
        {
            // The child already wrote its JSON error on standard output.
            Console.Out.Write(await child.StandardOutput.ReadToEndAsync(CancellationToken.None).ConfigureAwait(false));
        }
        else if (message.Length > 0)
        {
            Console.Error.WriteLine(message);
        }

        return child.ExitCode == 0 ? CliContext.ExitFailure : child.ExitCode;
    }
}
