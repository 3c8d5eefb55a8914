using Cairn.Native.Fuse;

namespace Cairn.Mount;

/// <summary>How <see cref="SnapshotMount.StartAsync"/> serves a snapshot.</summary>
public sealed record MountOptions
{
    /// <summary>Root of the frame caches (one subdirectory per repository id). Default: <see cref="Cairn.Repository.LocalCache.DefaultRoot"/>.</summary>
    public string? CacheRoot { get; init; }

    /// <summary>Most bytes the repository's frame cache may hold on disk, shared by every mount of the repository. 0: no disk cache.</summary>
    public long CacheSize { get; init; } = 2L << 30;

    /// <summary>Fetch the rest of the snapshot into the cache in the background, after the prefetch, behind demand reads.</summary>
    public bool Hydrate { get; init; } = true;

    /// <summary>
    /// After a read of a file's start, put the other files of its directory that lie in the same frame into the
    /// kernel's page cache (FUSE_NOTIFY_STORE), so reading them needs no request (docs/mount.md, "Files pushed with their neighbour").
    /// </summary>
    public bool PushSiblings { get; init; } = true;

    /// <summary>Record which chunks the workload reads first (<c>traces/&lt;tree-hash&gt;</c>) and prefetch by the trace of the tree or of its nearest ancestor.</summary>
    public bool Trace { get; init; } = true;

    /// <summary>How long after the first read the trace keeps recording.</summary>
    public TimeSpan TraceWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Most chunk bytes a trace covers; recording stops once reached.</summary>
    public long TraceBytes { get; init; } = 256L << 20;

    /// <summary>How many ancestors (parent links) are searched for a trace when the tree has none.</summary>
    public int TraceAncestors { get; init; } = 16;

    /// <summary>Ranged reads the background fetches (prefetch, hydration) keep in flight.</summary>
    public int BackgroundConcurrency { get; init; } = 2;

    /// <summary>Largest background ranged read: small enough that a demand read queued behind one waits little.</summary>
    public int BackgroundReadSize { get; init; } = 4 << 20;

    /// <summary>Decompressed frames kept in memory for reads that arrive before the frame is on disk.</summary>
    public int MemoryFrames { get; init; } = 8;

    /// <summary>Kernel readahead for the mount in KiB (root only; FUSE's default is 128): bigger sequential reads, fewer requests.</summary>
    public int ReadAheadKiB { get; init; } = 1024;

    /// <summary>How long the kernel may cache entries, attributes and negative lookups: the data never changes.</summary>
    public double KernelCacheSeconds { get; init; } = 86400;

    /// <summary>FUSE session options (mount options, worker threads).</summary>
    public FuseMountOptions Fuse { get; init; } = new();

    /// <summary>Receives one line per notable event: read errors (with snapshot, path and pack), hydration progress. Default: standard error.</summary>
    public Action<string>? Log { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(CacheSize, nameof(CacheSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(BackgroundConcurrency, 1, nameof(BackgroundConcurrency));
        ArgumentOutOfRangeException.ThrowIfLessThan(BackgroundReadSize, 1 << 16, nameof(BackgroundReadSize));
        ArgumentOutOfRangeException.ThrowIfNegative(MemoryFrames, nameof(MemoryFrames));
        ArgumentOutOfRangeException.ThrowIfNegative(TraceAncestors, nameof(TraceAncestors));
    }
}
