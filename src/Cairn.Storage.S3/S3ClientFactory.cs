using Amazon;
using Amazon.Runtime;
using Amazon.S3;

namespace Cairn.Storage.S3;

/// <summary>Builds the SDK client from <see cref="S3StoreOptions"/> and the standard AWS environment.</summary>
internal static class S3ClientFactory
{
    /// <summary>The region used to sign for a custom endpoint when none is configured (most S3-compatible servers ignore it).</summary>
    private const string FallbackRegion = "us-east-1";

    /// <summary>The endpoint: the option, else <c>AWS_ENDPOINT_URL_S3</c>, else <c>AWS_ENDPOINT_URL</c>, else <c>null</c> (AWS).</summary>
    public static Uri? ResolveEndpoint(S3StoreOptions options)
    {
        if (options.Endpoint is not null)
        {
            return options.Endpoint;
        }

        foreach (var name in new[] { "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL" })
        {
            var value = Environment.GetEnvironmentVariable(name);
            if (string.IsNullOrWhiteSpace(value))
            {
                continue;
            }

            return S3StoreOptions.ParseEndpoint(value, name);
        }

        return null;
    }

    /// <summary>The region: the option, else <c>AWS_REGION</c>, <c>AWS_DEFAULT_REGION</c>, the shared profile; <c>null</c> if none.</summary>
    public static string? ResolveRegion(S3StoreOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.Region))
        {
            return options.Region.Trim();
        }

        foreach (var name in new[] { "AWS_REGION", "AWS_DEFAULT_REGION" })
        {
            var value = Environment.GetEnvironmentVariable(name);
            if (!string.IsNullOrWhiteSpace(value))
            {
                return value.Trim();
            }
        }

        return FallbackRegionFactory.GetRegionEndpoint()?.SystemName;
    }

    public static AmazonS3Client Create(S3StoreOptions options, out Uri? endpoint)
    {
        endpoint = ResolveEndpoint(options);
        var region = ResolveRegion(options);
        var config = new AmazonS3Config
        {
            // Our retry policy (S3ObjectStore.RunAsync) is the only one: the SDK makes exactly one attempt.
            MaxErrorRetry = 0,
            MaxStaleConnectionRetries = 0,
            ThrottleRetries = false,
            // Checksums "when supported" (the 4.x default) add headers that S3-compatible servers reject
            // (radosgw: XAmzContentSHA256Mismatch). SigV4 payload signing still protects the body.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxConnectionsPerServer = Math.Max(options.MaxConnections, 1),
            ConnectTimeout = options.ConnectTimeout,
            // Request deadlines are enforced per attempt by S3ObjectStore (a timer reset on progress),
            // so the HttpClient-wide timeout stays out of the way of long transfers.
            Timeout = Timeout.InfiniteTimeSpan,
            ForcePathStyle = options.ForcePathStyle ?? endpoint is not null,
        };

        if (endpoint is not null)
        {
            config.ServiceURL = endpoint.ToString();
            config.AuthenticationRegion = region ?? FallbackRegion;
        }
        else if (region is not null)
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }
        else
        {
            throw new UsageException($"no AWS region for s3://{options.Bucket}: set AWS_REGION, a region in the AWS profile, or an endpoint (--s3-endpoint / AWS_ENDPOINT_URL_S3)");
        }

        return options.Credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(options.Credentials, config);
    }
}
