using Amazon.Runtime;

namespace Cairn.Storage.S3;

/// <summary>
/// Where an S3 repository lives and how to talk to it. Build one with <see cref="Parse"/> from an
/// <c>s3://BUCKET/PREFIX</c> URI, then override what the command line says (<c>--s3-endpoint</c>, …).
/// </summary>
/// <remarks>
/// Anything left <c>null</c> comes from the standard AWS sources when the store is created:
/// the endpoint from <c>AWS_ENDPOINT_URL_S3</c> or <c>AWS_ENDPOINT_URL</c>, the region from
/// <c>AWS_REGION</c>, <c>AWS_DEFAULT_REGION</c> or the shared profile, the credentials from the SDK's
/// default chain (<c>AWS_ACCESS_KEY_ID</c>/<c>AWS_SECRET_ACCESS_KEY</c>/<c>AWS_SESSION_TOKEN</c>,
/// <c>AWS_PROFILE</c> and the shared files, web identity, container and instance roles).
/// </remarks>
public sealed class S3StoreOptions
{
    /// <summary>Objects up to this size are written with one PUT; larger ones with a multipart upload.</summary>
    public const int DefaultMultipartThreshold = 16 * 1024 * 1024;

    public S3StoreOptions(string bucket, string prefix = "")
    {
        ArgumentException.ThrowIfNullOrEmpty(bucket);
        ArgumentNullException.ThrowIfNull(prefix);
        Bucket = bucket;
        Prefix = NormalisePrefix(prefix);
    }

    /// <summary>The bucket.</summary>
    public string Bucket { get; }

    /// <summary>The key prefix of the repository inside the bucket: empty, or ending with <c>/</c>.</summary>
    public string Prefix { get; }

    /// <summary>The repository as a URI, for messages: <c>s3://bucket/prefix/</c>.</summary>
    public string Location => $"s3://{Bucket}/{Prefix}";

    /// <summary>The S3 endpoint (<c>--s3-endpoint</c>), e.g. <c>http://127.0.0.1:19400</c>; <c>null</c>: from the environment, else AWS.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>Path-style addressing (<c>endpoint/bucket/key</c>); <c>null</c>: on when an endpoint is set, off on AWS.</summary>
    public bool? ForcePathStyle { get; set; }

    /// <summary>The region to sign with; <c>null</c>: from the environment or profile (<c>us-east-1</c> with a custom endpoint).</summary>
    public string? Region { get; set; }

    /// <summary>Explicit credentials; <c>null</c>: the SDK's default credential chain.</summary>
    public AWSCredentials? Credentials { get; set; }

    /// <summary>Attempts per request, the first included (retries = attempts - 1).</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>No retry starts once this much time has passed since the first attempt of a request.</summary>
    public TimeSpan RetryBudget { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The first backoff ceiling; it doubles per retry up to <see cref="RetryMaxDelay"/> (full jitter).</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The largest backoff ceiling.</summary>
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An attempt fails as timed out after this long without progress: no response headers, no body bytes
    /// read or sent. Large transfers are fine as long as bytes keep moving.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout for establishing a TCP (and TLS) connection.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Concurrent HTTP connections to the endpoint (<c>MaxConnectionsPerServer</c>).</summary>
    public int MaxConnections { get; set; } = 64;

    /// <summary>Objects larger than this are written with a multipart upload.</summary>
    public int MultipartThreshold { get; set; } = DefaultMultipartThreshold;

    /// <summary>
    /// The largest part of a multipart upload: an object is cut into as few parts as this allows, all of one size (in
    /// whole MiB, at least S3's 5 MiB) but the last. Raised when an object would need more than 10,000 parts.
    /// </summary>
    public int PartSize { get; set; } = 8 * 1024 * 1024;

    /// <summary>Parts of one multipart upload in flight at once.</summary>
    public int UploadConcurrency { get; set; } = 4;

    /// <summary>
    /// Before the first conditional write, check once that the server enforces <c>If-None-Match</c> and
    /// <c>If-Match</c> on PUT, and refuse conditional writes if it does not. Turn off only for a server known
    /// to enforce them (saves four requests), or, knowingly, for one that does not and a repository with a
    /// single writer.
    /// </summary>
    public bool VerifyConditionalWrites { get; set; } = true;

    /// <summary>Parses <c>s3://BUCKET</c> or <c>s3://BUCKET/PREFIX</c>.</summary>
    /// <exception cref="UsageException">The URI is not of that form.</exception>
    public static S3StoreOptions Parse(string uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        const string Scheme = "s3://";
        if (!uri.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException($"'{uri}' is not an S3 location: expected s3://BUCKET/PREFIX");
        }

        var rest = uri[Scheme.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? string.Empty : rest[(slash + 1)..];
        if (!IsValidBucketName(bucket))
        {
            throw new UsageException($"'{uri}': '{bucket}' is not a valid bucket name (3-63 characters: a-z, 0-9, '.', '-')");
        }

        if (prefix.Contains("//", StringComparison.Ordinal) || prefix.StartsWith('/') || prefix.Contains('?') || prefix.Contains('#'))
        {
            throw new UsageException($"'{uri}': invalid prefix '{prefix}'");
        }

        return new S3StoreOptions(bucket, prefix);
    }

    /// <summary>Parses an endpoint URL: absolute, <c>http</c> or <c>https</c>.</summary>
    /// <param name="value">The URL.</param>
    /// <param name="source">Where it comes from, for the message: <c>--s3-endpoint</c>, <c>AWS_ENDPOINT_URL_S3</c>, …</param>
    /// <exception cref="UsageException">It is not such a URL.</exception>
    public static Uri ParseEndpoint(string value, string source)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"{source}='{value}' is not an http(s) URL");
        }

        return uri;
    }

    private static string NormalisePrefix(string prefix) =>
        prefix.Length == 0 || prefix.EndsWith('/') ? prefix : prefix + "/";

    private static bool IsValidBucketName(string name)
    {
        if (name.Length is < 3 or > 63 || !char.IsAsciiLetterLower(name[0]) && !char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c != '.' && c != '-')
            {
                return false;
            }
        }

        return name[^1] != '-' && name[^1] != '.';
    }
}
