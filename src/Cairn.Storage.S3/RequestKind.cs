namespace Cairn.Storage.S3;

/// <summary>Which <see cref="StoreStatistics"/> counter a request goes to.</summary>
internal enum RequestKind
{
    Get,
    Head,
    Put,
    List,
    Delete,
}
