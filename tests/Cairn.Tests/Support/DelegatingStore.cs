using Cairn.Storage;

namespace Cairn.Tests.Support;

/// <summary>
/// A real store seen through a wrapper that passes every call on: a test overrides the one call it needs to watch
/// or fail, which a real store does not do on demand.
/// </summary>
internal abstract class DelegatingStore(IObjectStore inner) : IObjectStore
{
    public string Location => inner.Location;

    public StoreStatistics Statistics => inner.Statistics;

    public virtual ValueTask ReadRangeAsync(string key, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadRangeAsync(key, offset, buffer, cancellationToken);

    public virtual ValueTask<byte[]> ReadAllAsync(string key, CancellationToken cancellationToken = default) => inner.ReadAllAsync(key, cancellationToken);

    public virtual ValueTask<VersionedObject> ReadVersionedAsync(string key, CancellationToken cancellationToken = default) => inner.ReadVersionedAsync(key, cancellationToken);

    public virtual ValueTask<long?> TryGetSizeAsync(string key, CancellationToken cancellationToken = default) => inner.TryGetSizeAsync(key, cancellationToken);

    public virtual ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default) => inner.PutAsync(key, data, condition, cancellationToken);

    public virtual ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);

    public virtual IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
