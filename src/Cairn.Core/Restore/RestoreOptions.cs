namespace Cairn.Restore;

/// <summary>How <see cref="Restorer.RestoreAsync"/> runs.</summary>
public sealed record RestoreOptions
{
    /// <summary>Replace a non-empty target: the old contents are swapped out atomically once the restore is complete.</summary>
    public bool Replace { get; init; }

    /// <summary>Frames decoded and written at once.</summary>
    public int Concurrency { get; init; } = Math.Max(4, Environment.ProcessorCount * 2);

    /// <summary>Largest ranged read: adjacent frames of a pack are fetched together up to this size.</summary>
    public int MaxReadSize { get; init; } = 16 << 20;

    /// <summary>Called now and then from a background thread.</summary>
    public IProgress<RestoreProgress>? Progress { get; init; }
}

public readonly record struct RestoreProgress(long Bytes, long TotalBytes);

/// <summary>What a restore did.</summary>
public sealed record RestoreResult(long Entries, long Bytes, double Seconds, IReadOnlyList<string> Warnings);
