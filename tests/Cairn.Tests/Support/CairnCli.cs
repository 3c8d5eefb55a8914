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
/// Runs the real <c>cairn</c> command line in a child process, as a user would: the executable named by
/// <c>CAIRN_TEST_CLI</c> (scripts/test.sh sets it to the Native AOT build of ./cairn, so the tests cover what users
/// run), else the cairn.dll built next to the tests, under the dotnet host running them.
/// </summary>
internal static class CairnCli
{
    /// <summary>The command that starts cairn, before its arguments.</summary>
    public static IReadOnlyList<string> Launcher { get; } =
        Environment.GetEnvironmentVariable("CAIRN_TEST_CLI") is { Length: > 0 } cli ? [cli] : [DotnetHost, Path.Combine(AppContext.BaseDirectory, "cairn.dll")];

    /// <summary>Runs cairn with exactly <paramref name="arguments"/> (no --repo added): exit code, standard output and error.</summary>
    public static Task<(int ExitCode, byte[] Output, string Error)> RunRawAsync(IEnumerable<string> arguments) =>
        ProcessRunner.RunAsync(Launcher[0], [.. Launcher.Skip(1), .. arguments]);

    /// <summary>Runs cairn with exactly <paramref name="arguments"/>, asserts it succeeded, and returns its standard output.</summary>
    public static Task<string> RunTextAsync(params string[] arguments) =>
        ProcessRunner.RunTextAsync(Launcher[0], [.. Launcher.Skip(1), .. arguments]);

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

    /// <summary>
    /// Starts <c>cairn --repo REPO ARGS...</c> with standard output and error redirected (the caller reads or drains
    /// them), with <paramref name="environment"/> added to its environment.
    /// </summary>
    public static Process Start(string repo, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var command = Command(repo, arguments, wrapper: null);
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in command.Skip(1))
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return Process.Start(info)!;
    }

    private static List<string> Command(string repo, IEnumerable<string> arguments, IReadOnlyList<string>? wrapper) =>
        [.. wrapper ?? [], .. Launcher, "--repo", repo, .. arguments];
}
