namespace Cairn.Tests.Support;

/// <summary>Runs a small sh script (coreutils, attr tools) to set up or change a tree the way a user would.</summary>
internal static class Shell
{
    public static void Run(string script, string directory)
    {
        var (exitCode, _, error) = ProcessRunner.RunAsync("sh", ["-ec", script], directory).GetAwaiter().GetResult();
        Assert.True(exitCode == 0, $"{script}: {error}");
    }
}
