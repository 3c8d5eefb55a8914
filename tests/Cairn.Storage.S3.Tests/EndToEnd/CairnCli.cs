using System.Diagnostics;
using System.Text.Json;

namespace Cairn.Storage.S3.Tests.EndToEnd;

/// <summary>What one run of the <c>cairn</c> command line printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Standard output as JSON (the command ran with <c>--json</c>).</summary>
    public JsonElement Json => JsonDocument.Parse(Stdout).RootElement;

    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>
/// Runs the real <c>cairn</c> command line as a child process, with an environment of our choosing: none of the test
/// process's AWS or Cairn variables leak into it. The executable named by <c>CAIRN_TEST_CLI</c> (scripts/test.sh
/// sets it to the Native AOT build of ./cairn, what users run), else the Cairn.Cli build next to the tests.
/// </summary>
public static class CairnCli
{
    private static readonly string[] s_launcher =
        Environment.GetEnvironmentVariable("CAIRN_TEST_CLI") is { Length: > 0 } cli ? [cli] : ["dotnet", Path.Combine(AppContext.BaseDirectory, "cairn.dll")];

    /// <summary>Starts the command line; the caller ends it (<see cref="RunAsync"/> does).</summary>
    public static Process Start(IReadOnlyDictionary<string, string> environment, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(s_launcher[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in s_launcher.Skip(1).Concat(args))
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var name in info.Environment.Keys.Where(n => n.StartsWith("AWS_", StringComparison.Ordinal) || n.StartsWith("CAIRN_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(name);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start " + string.Join(' ', s_launcher));
        process.StandardInput.Close();
        return process;
    }

    /// <summary>Runs the command line to its end (killed after <paramref name="timeout"/>, default one minute).</summary>
    public static async Task<CliResult> RunAsync(IReadOnlyDictionary<string, string> environment, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        using var process = Start(environment, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(1));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"cairn {string.Join(' ', args)} did not finish in time; stderr: {await stderr}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
