using System.CommandLine;

namespace Cairn.Cli;

/// <summary>Options every command takes.</summary>
internal static class GlobalOptions
{
    /// <summary>How a snapshot argument may name a snapshot (see <c>Repository.ResolveAsync</c>).</summary>
    public const string SnapshotForms = "id, unique id prefix (4+ hex digits), tag, or 'latest'";

    /// <summary>What a new tag may be called (see <c>Repository.TagNameProblem</c>): nothing a snapshot argument reads otherwise.</summary>
    public const string TagNames = "letters, digits, '.', '_', '-'; not 4+ hex digits, which read as an id prefix, nor 'latest', 'auto' or 'none'";

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

    public static readonly Option<string?> S3Endpoint = new("--s3-endpoint")
    {
        Description = "S3-compatible server for s3:// repositories, e.g. http://127.0.0.1:9000. Default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS S3.",
        HelpName = "URL",
        Recursive = true,
    };

    public static readonly Option<bool?> S3PathStyle = new("--s3-path-style")
    {
        Description = "Address buckets as ENDPOINT/BUCKET (true) or BUCKET.ENDPOINT (false). Default: true when an endpoint is set, false on AWS.",
        Arity = ArgumentArity.ZeroOrOne,
        Recursive = true,
    };

    public static readonly Option<bool> S3NoVerifyConditionalWrites = new("--s3-no-verify-conditional-writes")
    {
        Description = "Do not check that the S3 server enforces conditional writes (If-None-Match/If-Match) before relying on them. "
            + "Only for a server known to enforce them, or for a repository that never has more than one writer.",
        Recursive = true,
    };
}
