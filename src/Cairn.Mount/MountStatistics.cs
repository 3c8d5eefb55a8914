namespace Cairn.Mount;

/// <summary>Thread-safe counters of one mount: where reads were served from and what was fetched.</summary>
public sealed class MountStatistics
{
    private long _reads;
    private long _bytesServed;
    private long _memoryHits;
    private long _diskHits;
    private long _demandFetches;
    private long _backgroundFrames;
    private long _fetchedBytes;
    private long _readErrors;
    private long _cacheRepairs;
    private long _filesPushed;
    private long _bytesPushed;

    /// <summary>Read requests answered (data or error).</summary>
    public long Reads => Volatile.Read(ref _reads);

    /// <summary>File bytes returned to the kernel.</summary>
    public long BytesServed => Volatile.Read(ref _bytesServed);

    /// <summary>Chunk pieces served from a decompressed frame in memory.</summary>
    public long MemoryHits => Volatile.Read(ref _memoryHits);

    /// <summary>Chunk pieces served from the disk cache.</summary>
    public long DiskHits => Volatile.Read(ref _diskHits);

    /// <summary>Frames fetched from the repository because a read waited for them.</summary>
    public long DemandFetches => Volatile.Read(ref _demandFetches);

    /// <summary>Frames fetched by prefetch or hydration.</summary>
    public long BackgroundFrames => Volatile.Read(ref _backgroundFrames);

    /// <summary>Compressed bytes fetched from the repository (both kinds).</summary>
    public long FetchedBytes => Volatile.Read(ref _fetchedBytes);

    /// <summary>Reads answered with EIO.</summary>
    public long ReadErrors => Volatile.Read(ref _readErrors);

    /// <summary>Cached frames found damaged on disk, dropped and fetched again.</summary>
    public long CacheRepairs => Volatile.Read(ref _cacheRepairs);

    /// <summary>Files put into the kernel's page cache next to one a read was answered from (no read request needed for them).</summary>
    public long FilesPushed => Volatile.Read(ref _filesPushed);

    /// <summary>File bytes put into the kernel's page cache that way.</summary>
    public long BytesPushed => Volatile.Read(ref _bytesPushed);

    internal void CountRead(int bytes)
    {
        Interlocked.Increment(ref _reads);
        Interlocked.Add(ref _bytesServed, bytes);
    }

    internal void CountMemoryHit() => Interlocked.Increment(ref _memoryHits);

    internal void CountDiskHit() => Interlocked.Increment(ref _diskHits);

    internal void CountFetch(bool demand, long compressedBytes)
    {
        Interlocked.Increment(ref demand ? ref _demandFetches : ref _backgroundFrames);
        Interlocked.Add(ref _fetchedBytes, compressedBytes);
    }

    internal void CountReadError()
    {
        Interlocked.Increment(ref _reads);
        Interlocked.Increment(ref _readErrors);
    }

    internal void CountCacheRepair() => Interlocked.Increment(ref _cacheRepairs);

    internal void CountPush(int bytes)
    {
        Interlocked.Increment(ref _filesPushed);
        Interlocked.Add(ref _bytesPushed, bytes);
    }
}
