using System.CommandLine;

namespace Cairn.Cli;

/// <summary>Options every command takes.</summary>
internal static class GlobalOptions
{
    public static readonly Option<string?> Repository = new("--repo", "-r")
    {
        Description = "The repository: a directory, or s3://BUCKET/PREFIX. Default: $CAIRN_REPO, else ~/.local/share/cairn/repo.",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print the result (or the error) as one JSON object on standard output.",
        Recursive = true,
    };

    public static readonly Option<bool> Quiet = new("--quiet", "-q")
    {
        Description = "No progress display.",
        Recursive = true,
    };
}
