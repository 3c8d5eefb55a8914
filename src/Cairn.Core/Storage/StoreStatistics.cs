namespace Cairn.Storage;

/// <summary>Thread-safe counters of the requests a store made and the bytes it moved.</summary>
public sealed class StoreStatistics
{
    private long _gets;
    private long _puts;
    private long _lists;
    private long _heads;
    private long _deletes;
    private long _bytesRead;
    private long _bytesWritten;
    private long _retries;

    public long Gets => Volatile.Read(ref _gets);
    public long Puts => Volatile.Read(ref _puts);
    public long Lists => Volatile.Read(ref _lists);
    public long Heads => Volatile.Read(ref _heads);
    public long Deletes => Volatile.Read(ref _deletes);
    public long BytesRead => Volatile.Read(ref _bytesRead);
    public long BytesWritten => Volatile.Read(ref _bytesWritten);
    public long Retries => Volatile.Read(ref _retries);

    public void CountGet(long bytes)
    {
        Interlocked.Increment(ref _gets);
        Interlocked.Add(ref _bytesRead, bytes);
    }

    public void CountPut(long bytes)
    {
        Interlocked.Increment(ref _puts);
        Interlocked.Add(ref _bytesWritten, bytes);
    }

    public void CountList() => Interlocked.Increment(ref _lists);
    public void CountHead() => Interlocked.Increment(ref _heads);
    public void CountDelete() => Interlocked.Increment(ref _deletes);
    public void CountRetry() => Interlocked.Increment(ref _retries);
}
