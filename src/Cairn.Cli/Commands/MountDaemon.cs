using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Cairn.Native.Linux;

namespace Cairn.Cli.Commands;

/// <summary>
/// <c>cairn mount --daemon</c>: runs this same command line again as a detached child (new session, no terminal),
/// relays its "mounted" line and returns once the mount answers, leaving the child to serve it; if the child fails
/// instead, waits for it to exit and repeats its error and its exit code. The child knows itself by an environment
/// variable.
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

        // Interrupted while it waits (Ctrl-C, SIGTERM): the parent exited and left the child to mount later, unseen.
        // The signal is taken here instead, and the child stopped below, as on the timeout.
        using var interrupted = new CancellationTokenSource();
        PosixSignal? received = null;
        void OnSignal(PosixSignalContext signal)
        {
            signal.Cancel = true;
            received ??= signal.Signal;
            interrupted.Cancel();
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var child = Process.Start(info) ?? throw new CairnException("cannot start the mount daemon");
        using var handle = OpenHandle(child);
        child.StandardInput.Close();
        var errors = child.StandardError.ReadToEndAsync(CancellationToken.None);
        var line = child.StandardOutput.ReadLineAsync(CancellationToken.None).AsTask();
        var exited = child.WaitForExitAsync(CancellationToken.None);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, interrupted.Token);
        deadline.CancelAfter(s_readyTimeout);
        try
        {
            // Its first line; if it exits first, what it wrote is already in the pipe (or the pipe is at its end).
            await Task.WhenAny(line, exited).WaitAsync(deadline.Token).ConfigureAwait(false);
            if (await line.WaitAsync(deadline.Token).ConfigureAwait(false) is { } ready && !IsError(ready, context.Json))
            {
                Console.Out.WriteLine(ready);
                return 0;
            }

            // It is failing. Its standard output ends before the runtime has reaped it (the kernel closes a process's
            // descriptors before it becomes a zombie), so wait for the exit itself: its exit code is part of the answer.
            await exited.WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            // No answer in time (or the command was cancelled): stop the child. Through its pidfd, so that the signal
            // reaches it or nobody, never a process that was given its PID after it was reaped.
            var signalled = handle?.TryKill() == true;
            if (signalled || child.HasExited)
            {
                await exited.ConfigureAwait(false);
            }

            // Unless it ended by itself meanwhile (the signal found it exited): then its own answer is the one to give.
            if (!child.HasExited || (signalled && child.ExitCode == 128 + ProcessDescriptor.KillSignal))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (received is { } signal)
                {
                    Console.Error.WriteLine(signalled
                        ? $"cairn: interrupted ({signal}): stopped the mount daemon (pid {child.Id}) before it mounted"
                        : $"cairn: interrupted ({signal}): the mount daemon (pid {child.Id}) is left running (no pidfd to stop it safely)");
                    return signal == PosixSignal.SIGTERM ? 143 : 130;
                }

                throw new CairnException(signalled
                    ? $"the mount daemon (pid {child.Id}) did not answer within {s_readyTimeout.TotalMinutes:0} minutes; stopped it"
                    : $"the mount daemon (pid {child.Id}) did not answer within {s_readyTimeout.TotalMinutes:0} minutes; left it running (no pidfd to stop it safely)");
            }
        }

        // It has exited, so its pipes are at their end.
        return await RelayFailureAsync(child, line, errors).ConfigureAwait(false);
    }

    /// <summary>
    /// A pidfd for the child just started, or null if it has already exited. Opened before the child is known not to
    /// be reaped: the runtime reaps a child and marks it exited in one step under its lock, so a child not exited
    /// after the open was not reaped before it, and the pidfd is that child's.
    /// </summary>
    private static ProcessDescriptor? OpenHandle(Process child)
    {
        var handle = ProcessDescriptor.TryOpen(child.Id);
        if (handle is not null && child.HasExited)
        {
            handle.Dispose();
            return null;
        }

        return handle;
    }

    /// <summary>
    /// With <c>--json</c> the child writes its error object on standard output, where the "mounted" object goes: the
    /// first line is an answer only if it is not that.
    /// </summary>
    private static bool IsError(string line, bool json)
    {
        if (!json)
        {
            return false; // errors go to standard error
        }

        try
        {
            using var document = JsonDocument.Parse(line);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Once the child has exited: repeats its error (the JSON object on standard output, the message on standard error) and returns its exit code.</summary>
    private static async Task<int> RelayFailureAsync(Process child, Task<string?> line, Task<string> errors)
    {
        if (await line.ConfigureAwait(false) is { } first)
        {
            Console.Out.WriteLine(first);
            Console.Out.Write(await child.StandardOutput.ReadToEndAsync(CancellationToken.None).ConfigureAwait(false));
        }

        var message = (await errors.ConfigureAwait(false)).TrimEnd();
        if (message.Length > 0)
        {
            Console.Error.WriteLine(message);
        }

        return child.ExitCode == 0 ? CliContext.ExitFailure : child.ExitCode;
    }
}
