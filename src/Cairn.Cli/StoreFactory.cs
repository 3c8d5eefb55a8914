using Cairn.Storage;

namespace Cairn.Cli;

/// <summary>Turns a repository location into the object store behind it.</summary>
internal static class StoreFactory
{
    public static IObjectStore Open(string location)
    {
        if (location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            throw new UsageException("S3 repositories are not supported by this build yet");
        }

        return new LocalObjectStore(location);
    }
}
