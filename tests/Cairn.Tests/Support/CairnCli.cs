using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Cairn.Tests.Support;

/// <summary>What one run of the <c>cairn</c> command printed and returned.</summary>
internal sealed record CliResult(int ExitCode, byte[] Stdout, string Stderr)
{
    public string Text => Encoding.UTF8.GetString(Stdout);

    /// <summary>Standard output parsed as one JSON value.</summary>
    public JsonElement Json
    {
        get
        {
            using var document = JsonDocument.Parse(Stdout);
            return document.RootElement.Clone();
        }
    }

    public override string ToString() => $"exit {ExitCode}, stdout: {Text.Trim()}, stderr: {Stderr.Trim()}";
}

/// <summary>
/// Runs the real <c>cairn</c> command line (the built cairn.dll next to the tests) in a child process, as a user would.
/// </summary>
internal static class CairnCli
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "cairn.dll");

    /// <summary>The dotnet host running the tests (set by the SDK), so the child uses the same runtime.</summary>
    private static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>Runs <c>cairn --repo REPO ARGS...</c>, optionally under a wrapper command (e.g. setpriv).</summary>
    public static async Task<CliResult> RunAsync(string repo, IEnumerable<string> arguments, IReadOnlyList<string>? wrapper = null)
    {
        var command = Command(repo, arguments, wrapper);
        var (exitCode, stdout, stderr) = await ProcessRunner.RunAsync(command[0], command.Skip(1));
        return new CliResult(exitCode, stdout, stderr);
    }

    public static Task<CliResult> RunAsync(string repo, params string[] arguments) => RunAsync(repo, arguments, wrapper: null);

    /// <summary>Starts <c>cairn --repo REPO ARGS...</c> with standard output and error redirected; the caller reads or drains them.</summary>
    public static Process Start(string repo, IEnumerable<string> arguments)
    {
        var command = Command(repo, arguments, wrapper: null);
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        return Process.Start(info)!;
    }

    private static List<string> Command(string repo, IEnumerable<string> arguments, IReadOnlyList<string>? wrapper) =>
        [.. wrapper ?? [], DotnetHost, Dll, "--repo", repo, .. arguments];
}
