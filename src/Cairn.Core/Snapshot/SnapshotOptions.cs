using Cairn.Repository;

namespace Cairn.Snapshot;

/// <summary>How <see cref="Archiver.SnapshotAsync"/> runs.</summary>
public sealed record SnapshotOptions
{
    /// <summary><see cref="Parent"/> value: the snapshot the first tag points at, else the latest of the same source.</summary>
    public const string AutoParent = Repository.Repository.AutoParentReference;

    /// <summary><see cref="Parent"/> value: no parent (same as null); starts a new lineage.</summary>
    public const string NoParent = Repository.Repository.NoParentReference;

    /// <summary>
    /// The parent: null or "none" for none, "auto" for the snapshot the first tag points at or else the latest
    /// snapshot of the same source (same kind; for images, the same set of image paths), or a snapshot reference (id,
    /// prefix or tag). Files unchanged since the parent (same size, mtime, ctime and inode) are not read again.
    /// </summary>
    public string? Parent { get; init; }

    /// <summary>
    /// Store every chunk again, in fresh frames in the order the run reads them, as the first snapshot of an empty
    /// repository would, while keeping the parent: a restore of this snapshot (and of its descendants, until changes
    /// scatter them again) reads no frame of its ancestors. Every file is read, unchanged or not. It costs a full copy
    /// of the data; a lineage that has grown deep is what it is for (docs/images.md, "Depth, measured two ways, and
    /// deeper than 10").
    /// </summary>
    public bool Relayout { get; init; }

    /// <summary>The default <see cref="RelayoutAbove"/>: 5 %.</summary>
    public const double DefaultRelayoutAbove = 0.05;

    /// <summary>
    /// For image snapshots, bounds what the depth of a lineage adds to its restores: an image whose parent version
    /// leaves more unused bytes than this fraction of its data in the frames and segments this run would keep (all
    /// those it touches, for an image taken over unread) is stored again whole, as by <see cref="Relayout"/>; the other
    /// images go on as usual. Those bytes are what a child inherits for nothing (blocks earlier versions replaced);
    /// what its own changes cost, any child pays at any depth. Null: never on its own.
    /// Trees are relaid out only when asked: a tree's relayout reads every file again, and deduplication across
    /// lineages, which a relayout gives up, is most of what a tree saves (docs/images.md, "Depth, bounded").
    /// </summary>
    public double? RelayoutAbove { get; init; } = DefaultRelayoutAbove;

    /// <summary>Tags to point at the new snapshot.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>
    /// Leave out files and directories that cannot be read instead of failing; they are listed in the result
    /// (<see cref="SnapshotResult.Skipped"/>). Files and directories removed after they were listed are left out with a
    /// warning whatever this says.
    /// </summary>
    public bool SkipUnreadable { get; init; }

    /// <summary>Called now and then from a background thread.</summary>
    public IProgress<SnapshotProgress>? Progress { get; init; }

    /// <summary>Host name recorded in the snapshot (default: this machine's).</summary>
    public string? Host { get; init; }

    /// <summary>How many files are read at once: more than the cores, to keep the disk queue full.</summary>
    public int ReadConcurrency { get; init; } = 16;

    /// <summary>
    /// Size of the ring small files (up to 1 MiB) are read into ahead of the packer: the bytes read ahead at most.
    /// Large files are read through four 4 MiB buffers of their own. Together with the packs being filled and
    /// uploaded, the main term of a run's memory.
    /// </summary>
    public long ReadAheadBytes { get; init; } = 16L << 20;
}

/// <summary>Where a snapshot run is.</summary>
public readonly record struct SnapshotProgress(long Files, long Bytes, long BytesRead, long NewBytes, long StoredBytes);

/// <summary>What a snapshot run produced.</summary>
public sealed record SnapshotResult(SnapshotRecord Snapshot, IReadOnlyList<string> Skipped, IReadOnlyList<string> Warnings)
{
    /// <summary>The images the run stored again whole on its own (<see cref="SnapshotOptions.RelayoutAbove"/>), and why; empty for none.</summary>
    public IReadOnlyList<RelayoutCause> Relayouts { get; init; } = [];

    /// <summary>Bytes of the files' sizes that no chunk covers: holes, and the all-zero blocks an image run leaves out. Not stored; restored as holes.</summary>
    public long UncoveredBytes { get; init; }
}

/// <summary>
/// Why a run stored an image again whole on its own: the parent's version of <paramref name="Image"/> left
/// <paramref name="InheritedUnusedBytes"/> unused in the frames and segments a child keeps (all those it touches, for
/// an image unchanged since), more than <paramref name="Bound"/> of its <paramref name="Bytes"/> of distinct blocks.
/// </summary>
public sealed record RelayoutCause(string Image, long InheritedUnusedBytes, long Bytes, double Bound)
{
    /// <summary>The unused bytes as a fraction of the image's data.</summary>
    public double Fraction => Bytes == 0 ? 0 : (double)InheritedUnusedBytes / Bytes;
}
