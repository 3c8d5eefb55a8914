using Cairn.Storage;

namespace Cairn.Tests.Support;

/// <summary>
/// A real local store with a hook run before every ranged read (the <paramref name="hook"/> gets the 1-based count
/// of ranged reads so far): to fail or cancel a restore in the middle of its reads, which a real store does not do
/// on demand.
/// </summary>
internal sealed class HookedStore(IObjectStore inner, Func<int, ValueTask> hook) : IObjectStore
{
    private int _rangeReads;

    public string Location => inner.Location;

    public StoreStatistics Statistics => inner.Statistics;

    public async ValueTask ReadRangeAsync(string key, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await hook(Interlocked.Increment(ref _rangeReads));
        await inner.ReadRangeAsync(key, offset, buffer, cancellationToken);
    }

    public ValueTask<byte[]> ReadAllAsync(string key, CancellationToken cancellationToken = default) => inner.ReadAllAsync(key, cancellationToken);

    public ValueTask<VersionedObject> ReadVersionedAsync(string key, CancellationToken cancellationToken = default) => inner.ReadVersionedAsync(key, cancellationToken);

    public ValueTask<long?> TryGetSizeAsync(string key, CancellationToken cancellationToken = default) => inner.TryGetSizeAsync(key, cancellationToken);

    public ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default) => inner.PutAsync(key, data, condition, cancellationToken);

    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);

    public IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
