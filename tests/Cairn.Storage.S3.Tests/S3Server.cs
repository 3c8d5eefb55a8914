using System.Diagnostics;
using Amazon.Runtime;
using Amazon.S3;

namespace Cairn.Storage.S3.Tests;

/// <summary>
/// The real S3 server the tests run against: <c>scripts/s3-server.sh</c>. Started if <c>status</c> says it is
/// not running, and then stopped again at the end; a server that was already running is left alone.
/// </summary>
public sealed class S3Server : IAsyncLifetime
{
    private string _script = string.Empty;
    private bool _startedHere;

    public Uri Endpoint { get; private set; } = null!;

    public string Bucket { get; private set; } = string.Empty;

    public string AccessKey { get; private set; } = string.Empty;

    public string SecretKey { get; private set; } = string.Empty;

    public string Region { get; private set; } = string.Empty;

    /// <summary>How long <c>start</c> took, when this fixture started the server.</summary>
    public TimeSpan? StartTime { get; private set; }

    /// <summary>The environment <c>s3-server.sh env</c> prints.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; private set; } = new Dictionary<string, string>();

    public AWSCredentials Credentials => new BasicAWSCredentials(AccessKey, SecretKey);

    public async Task InitializeAsync()
    {
        _script = Path.Combine(FindRepositoryRoot(), "scripts", "s3-server.sh");
        var (status, _) = await RunAsync("status", TimeSpan.FromSeconds(60));
        if (status != 0)
        {
            var clock = Stopwatch.StartNew();
            var (code, output) = await RunAsync("start", TimeSpan.FromMinutes(20));
            if (code != 0)
            {
                throw new InvalidOperationException($"scripts/s3-server.sh start failed ({code}):\n{output}");
            }

            _startedHere = true;
            StartTime = clock.Elapsed;
        }

        var (envCode, env) = await RunAsync("env", TimeSpan.FromSeconds(30));
        if (envCode != 0)
        {
            throw new InvalidOperationException($"scripts/s3-server.sh env failed ({envCode}):\n{env}");
        }

        var variables = new Dictionary<string, string>();
        foreach (var line in env.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("export ", StringComparison.Ordinal) && line.IndexOf('=', StringComparison.Ordinal) is var eq and > 0)
            {
                variables[line[7..eq]] = line[(eq + 1)..];
            }
        }

        Environment = variables;
        Endpoint = new Uri(variables["AWS_ENDPOINT_URL_S3"]);
        Bucket = S3StoreOptions.Parse(variables["CAIRN_S3_URI"]).Bucket;
        AccessKey = variables["AWS_ACCESS_KEY_ID"];
        SecretKey = variables["AWS_SECRET_ACCESS_KEY"];
        Region = variables["AWS_REGION"];
    }

    public async Task DisposeAsync()
    {
        if (_startedHere)
        {
            await RunAsync("stop", TimeSpan.FromMinutes(2));
        }
    }

    /// <summary>Options for a store under <paramref name="prefix"/>, talking to <paramref name="endpoint"/> (default: the server).</summary>
    public S3StoreOptions Options(string prefix, Uri? endpoint = null) => new(Bucket, prefix)
    {
        Endpoint = endpoint ?? Endpoint,
        Region = Region,
        Credentials = Credentials,
        // Tests retry quickly; the policy is the same.
        RetryBaseDelay = TimeSpan.FromMilliseconds(20),
        RetryMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    /// <summary>A plain SDK client, for checks behind the store's back.</summary>
    public AmazonS3Client RawClient() => new(Credentials, new AmazonS3Config
    {
        ServiceURL = Endpoint.ToString(),
        ForcePathStyle = true,
        AuthenticationRegion = Region,
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
        ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    });

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cairn.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("cannot find the repository root (Cairn.slnx) above " + AppContext.BaseDirectory);
    }

    private async Task<(int ExitCode, string Output)> RunAsync(string command, TimeSpan timeout)
    {
        var info = new ProcessStartInfo("bash", [_script, command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException("cannot run " + _script);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"scripts/s3-server.sh {command} took longer than {timeout}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}

[CollectionDefinition(Name)]
public sealed class S3ServerGroup : ICollectionFixture<S3Server>
{
    public const string Name = "s3 server";
}
