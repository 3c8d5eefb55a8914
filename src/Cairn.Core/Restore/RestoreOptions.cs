namespace Cairn.Restore;

/// <summary>How <see cref="Restorer.RestoreAsync"/> runs.</summary>
public sealed record RestoreOptions
{
    /// <summary>Replace a non-empty target: the old contents are swapped out atomically once the restore is complete.</summary>
    public bool Replace { get; init; }

    /// <summary>Ranged reads in flight at once (what hides the latency of an object store).</summary>
    public int Concurrency { get; init; } = 4;

    /// <summary>Threads that check, decompress, verify and write frames: one per core.</summary>
    public int DecodeThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Fetched data not yet decoded, at most (whole reads, at least two): what lets reads run ahead of decoding
    /// without holding a whole snapshot in memory.
    /// </summary>
    public long ReadAheadBytes { get; init; } = 64 << 20;

    /// <summary>Largest ranged read: adjacent frames of a pack are fetched together up to this size.</summary>
    public int MaxReadSize { get; init; } = 16 << 20;

    /// <summary>Called now and then from a background thread.</summary>
    public IProgress<RestoreProgress>? Progress { get; init; }

    /// <summary>
    /// A directory holding an earlier restore of an image snapshot (any version of the images): blocks the snapshot
    /// shares with it at the same offsets are cloned (FICLONERANGE) rather than written, where both directories are on
    /// one file system that can (btrfs, xfs); elsewhere they are copied as usual, with a warning.
    /// </summary>
    public string? ReflinkFrom { get; init; }

    /// <summary>
    /// The root of this host's local caches (<see cref="Repository.LocalCache"/>) to restore an image snapshot
    /// through (<c>--reflink</c>): blocks it shares with the nearest version kept in the repository's image cache are
    /// cloned from there, and the images restored are kept there for the next restore (<see cref="ImageCache"/>).
    /// Where the cache and the target are not on one file system that can clone, the restore copies as usual, with a
    /// warning. Not with <see cref="ReflinkFrom"/>.
    /// </summary>
    public string? ReflinkCache { get; init; }

    /// <summary>The default of <see cref="ReflinkCacheVersions"/>.</summary>
    public const int DefaultReflinkCacheVersions = 4;

    /// <summary>Image versions the cache keeps, at most (<see cref="ReflinkCache"/>).</summary>
    public int ReflinkCacheVersions { get; init; } = DefaultReflinkCacheVersions;

    /// <summary>Refuses options that do not go together (a <see cref="UsageException"/>), before anything is read or written.</summary>
    public void Validate()
    {
        if (ReflinkFrom is not null && ReflinkCache is not null)
        {
            throw new UsageException("--reflink and --reflink-from cannot be used together");
        }
    }
}

public readonly record struct RestoreProgress(long Bytes, long TotalBytes);

/// <summary>What a restore did.</summary>
/// <param name="Entries">Entries restored.</param>
/// <param name="Bytes">Bytes written from the repository.</param>
/// <param name="BytesCloned">Bytes cloned from the reflink base instead.</param>
/// <param name="BytesDecompressed">Bytes decompressed to get the data: more than <paramref name="Bytes"/> where the frames read hold data this snapshot does not use.</param>
/// <param name="ClonedFrom">The snapshot whose earlier restore the clones came from, if any.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Warnings">What could not be restored exactly, or done as asked.</param>
public sealed record RestoreResult(long Entries, long Bytes, long BytesCloned, long BytesDecompressed, string? ClonedFrom, double Seconds, IReadOnlyList<string> Warnings);
