using Cairn.Native.Fuse;
using Cairn.Repository;

namespace Cairn.Mount;

/// <summary>What a process serving a mount needs, read-only (<see cref="SnapshotMount"/>) or writable (<see cref="WritableMount"/>).</summary>
public interface IMountSession : IAsyncDisposable
{
    SnapshotRecord Snapshot { get; }

    MountStatistics Statistics { get; }

    /// <summary>The repository's frame cache directory (null without a disk cache).</summary>
    string? CacheDirectory { get; }

    /// <summary>Completes when the mount goes away, whoever unmounted it.</summary>
    Task WaitAsync(CancellationToken cancellationToken = default);

    /// <summary>Unmounts (lazily if busy). Idempotent.</summary>
    FuseUnmountResult Unmount();
}
