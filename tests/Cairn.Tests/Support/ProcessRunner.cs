using System.Diagnostics;

namespace Cairn.Tests.Support;

/// <summary>Runs a tool in a child process and collects its exit code, standard output (bytes) and standard error.</summary>
internal static class ProcessRunner
{
    public static string? FindTool(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    public static async Task<(int ExitCode, byte[] Output, string Error)> RunAsync(string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        using var output = new MemoryStream();
        Task copy = process.StandardOutput.BaseStream.CopyToAsync(output);
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within 60 s.");
        }

        await copy;
        return (process.ExitCode, output.ToArray(), await error);
    }

    public static async Task<string> RunTextAsync(string fileName, params string[] arguments)
    {
        (int exitCode, byte[] output, string error) = await RunAsync(fileName, arguments);
        Assert.True(exitCode == 0, $"{fileName} {string.Join(' ', arguments)} exited with {exitCode}: {error}");
        return System.Text.Encoding.UTF8.GetString(output).TrimEnd('\n');
    }
}
