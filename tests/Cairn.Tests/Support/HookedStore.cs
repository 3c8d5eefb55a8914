using Cairn.Storage;

namespace Cairn.Tests.Support;

/// <summary>
/// A real local store with a hook run before every ranged read (the <paramref name="hook"/> gets the 1-based count
/// of ranged reads so far): to fail or cancel a restore in the middle of its reads, which a real store does not do
/// on demand.
/// </summary>
internal sealed class HookedStore(IObjectStore inner, Func<int, ValueTask> hook) : DelegatingStore(inner)
{
    private int _rangeReads;

    public override async ValueTask ReadRangeAsync(string key, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await hook(Interlocked.Increment(ref _rangeReads));
        await base.ReadRangeAsync(key, offset, buffer, cancellationToken);
    }
}
