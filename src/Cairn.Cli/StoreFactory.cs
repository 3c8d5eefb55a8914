using Cairn.Storage;
using Cairn.Storage.S3;

namespace Cairn.Cli;

/// <summary>How to reach an S3 repository, from the global <c>--s3-*</c> options (null: from the AWS environment).</summary>
internal sealed record S3Settings(Uri? Endpoint, bool? PathStyle, bool VerifyConditionalWrites);

/// <summary>Turns a repository location into the object store behind it.</summary>
internal static class StoreFactory
{
    public static IObjectStore Open(string location, S3Settings s3)
    {
        if (!location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            return new LocalObjectStore(location);
        }

        var options = S3StoreOptions.Parse(location);
        options.Endpoint = s3.Endpoint;
        options.ForcePathStyle = s3.PathStyle;
        options.VerifyConditionalWrites = s3.VerifyConditionalWrites;
        return new S3ObjectStore(options);
    }
}
