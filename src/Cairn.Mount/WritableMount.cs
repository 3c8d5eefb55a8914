using System.Runtime.Versioning;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Snapshot;

namespace Cairn.Mount;

/// <summary>
/// A snapshot mounted writable: the snapshot is served lazily (<see cref="SnapshotMount"/>) on the hidden
/// <c>lower/</c> of an <see cref="OverlayDirectory"/>, and an overlay (kernel overlayfs or fuse-overlayfs) at the
/// mount point puts <c>upper/</c> on top, where every change lands. Unmounting removes the overlay, then the lower
/// mount. If the overlay is unmounted by someone else (<c>cairn umount</c>, <c>umount -l</c>), the lower mount is
/// detached within a second and served until the last file open through the overlay is closed. The changes stay in
/// <c>upper/</c>: <c>cairn snapshot --from-mount</c> turns them into a snapshot whose parent is the mounted one.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class WritableMount : IMountSession
{
    private static readonly TimeSpan s_overlayCheck = TimeSpan.FromSeconds(1);

    private readonly SnapshotMount _lower;
    private readonly MountInfo _overlay;
    private readonly bool _removeIfUnchanged;
    private int _disposed;

    private WritableMount(SnapshotMount lower, string mountPoint, OverlayDirectory directory, OverlayFlavor flavor, MountInfo overlay, bool removeIfUnchanged)
    {
        _lower = lower;
        MountPoint = mountPoint;
        Directory = directory;
        Flavor = flavor;
        _overlay = overlay;
        _removeIfUnchanged = removeIfUnchanged;
    }

    public string MountPoint { get; }

    public OverlayDirectory Directory { get; }

    public OverlayFlavor Flavor { get; }

    /// <summary>The snapshot's own mount, under the overlay.</summary>
    public SnapshotMount Lower => _lower;

    public SnapshotRecord Snapshot => _lower.Snapshot;

    public MountStatistics Statistics => _lower.Statistics;

    public string? CacheDirectory => _lower.CacheDirectory;

    /// <summary>
    /// Mounts <paramref name="snapshot"/> writable at <paramref name="mountPoint"/> (an existing directory; a Cairn
    /// overlay or mount left there by a crashed server is detached first). A directory given in
    /// <paramref name="writable"/> that already holds changes to the same snapshot is reused: they reappear.
    /// </summary>
    public static async Task<WritableMount> StartAsync(Repository.Repository repository, SnapshotRecord snapshot, string mountPoint, WritableOptions writable, MountOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(writable);
        options ??= new MountOptions();
        mountPoint = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        var flavor = writable.Flavor;
        if (flavor == OverlayFlavor.Kernel && !LinuxFile.IsRoot)
        {
            throw new UsageException("kernel overlayfs needs root; use --overlay fuse (fuse-overlayfs)");
        }

        if (flavor == OverlayFlavor.FuseOverlayfs)
        {
            OverlayLayer.FindFuseOverlayfs();
        }

        // A crashed server's overlay and lower mount, or a dead fuse-overlayfs, go first: they may hold the directory.
        // A live Cairn mount is refused.
        var stale = MountPoints.Prepare(mountPoint);
        var directory = writable.Directory is { } given ? new OverlayDirectory(Path.GetFullPath(given)) : OverlayDirectory.CreateDefault(snapshot);
        OverlayLayer.CheckPaths(flavor, directory);
        var existing = Prepare(directory, repository, snapshot, flavor);
        var lower = await SnapshotMount.StartAsync(repository, snapshot, directory.Lower, options, cancellationToken).ConfigureAwait(false);
        try
        {
            if (stale)
            {
                lower.Log($"detached a stale mount at {mountPoint} (its server had died)");
            }

            if (existing is null)
            {
                // The overlay shows the upper root's attributes for the root: start from the snapshot's.
                CopyRootAttributes(directory.Lower, directory.Upper, flavor);
            }

            OverlayLayer.Mount(flavor, directory, mountPoint, MountPoints.SourcePrefix + snapshot.Id.ToShortString());
            var overlay = MountTable.Find(mountPoint) ?? throw new CairnException($"the overlay at '{mountPoint}' vanished right after mounting");
            new OverlayState
            {
                Repository = writable.RepositoryLocation,
                RepositoryId = repository.Config.Id,
                Snapshot = snapshot.Id.ToString(),
                Overlay = OverlayState.NameOf(flavor),
                MountPoint = mountPoint,
                Upper = directory.Upper,
                Lower = directory.Lower,
                Pid = Environment.ProcessId,
                Mounted = DateTimeOffset.UtcNow,
            }.Write(directory);
            return new WritableMount(lower, mountPoint, directory, flavor, overlay, removeIfUnchanged: writable.Directory is null);
        }
        catch
        {
            OverlayLayer.Unmount(flavor, mountPoint);
            await lower.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Completes when the lower mount's session ends: unmounted by someone, or, once the overlay has been unmounted by
    /// someone, when the last file open through the overlay is closed.
    /// </summary>
    public async Task WaitAsync(CancellationToken cancellationToken = default)
    {
        var session = _lower.WaitAsync(cancellationToken);
        using (var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            var watcher = WatchOverlayAsync(stopWatching.Token);
            var first = await Task.WhenAny(session, watcher).ConfigureAwait(false);
            await stopWatching.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (first == watcher)
            {
                // The overlay left the mount table, but a lazily detached overlay lives on while files opened through
                // it are open, and reads them from the lower mount: ending the session now would fail those reads
                // with ENOTCONN. Detach the lower mount the same way (cairn umount may have done so already) and let
                // the kernel end its session when the last reference to it goes.
                FuseMount.UnmountPath(Directory.Lower);
                _lower.Log($"the overlay at {MountPoint} was unmounted; the snapshot under it is served until the last file open in it is closed");
            }
        }

        await session.ConfigureAwait(false);
    }

    /// <summary>Unmounts the overlay, then the snapshot under it (each lazily if busy). Idempotent.</summary>
    public FuseUnmountResult Unmount()
    {
        var overlay = MountTable.Find(MountPoint) == _overlay ? OverlayLayer.Unmount(Flavor, MountPoint) : FuseUnmountResult.AlreadyUnmounted;
        var lower = _lower.Unmount();
        return overlay == FuseUnmountResult.AlreadyUnmounted ? lower : overlay;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            Unmount();
        }
        finally
        {
            await _lower.DisposeAsync().ConfigureAwait(false);
        }

        if (_removeIfUnchanged && IsEmpty(Directory.Upper))
        {
            // A default directory without changes holds nothing worth keeping.
            using var parent = LinuxFile.OpenDirectory(OverlayDirectory.DefaultRoot);
            LinuxFile.RemoveTree(parent, System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(Directory.Path)));
        }
        else
        {
            _lower.Log($"the changes stay in {Directory.Upper} (cairn snapshot --from-mount makes a snapshot of them while mounted)");
        }
    }

    /// <summary>
    /// Creates the layer directories; returns the existing state if the directory was used before (for the same
    /// snapshot and the same overlay only: each marks deletions and opaque directories its own way, and takes the
    /// other's marks for data or its data for marks).
    /// </summary>
    private static OverlayState? Prepare(OverlayDirectory directory, Repository.Repository repository, SnapshotRecord snapshot, OverlayFlavor flavor)
    {
        var existing = OverlayState.TryRead(directory);
        if (existing is not null)
        {
            if (existing.RepositoryId != repository.Config.Id || existing.Snapshot != snapshot.Id.ToString())
            {
                throw new UsageException($"'{directory.Path}' holds changes to snapshot {existing.Snapshot[..12]} of repository {existing.Repository}, not to {snapshot.Id.ToShortString()}: choose another directory");
            }

            if (existing.Flavor != flavor)
            {
                throw new UsageException($"'{directory.Path}' holds changes written by {existing.Overlay}: mount it with --overlay {(existing.Flavor == OverlayFlavor.Kernel ? "kernel" : "fuse")}");
            }

            if (MountTable.Find(directory.Lower) is not null && !FuseMount.IsStale(directory.Lower))
            {
                throw new UsageException($"'{directory.Path}' is in use by the writable mount at {existing.MountPoint}");
            }
        }
        else if (System.IO.Directory.Exists(directory.Upper) && !IsEmpty(directory.Upper))
        {
            throw new UsageException($"'{directory.Upper}' is not empty and has no {OverlayState.FileName}: not a Cairn overlay directory");
        }

        System.IO.Directory.CreateDirectory(directory.Upper);
        System.IO.Directory.CreateDirectory(directory.Work);
        System.IO.Directory.CreateDirectory(directory.Lower);
        return existing;
    }

    /// <summary>
    /// Gives the upper root the snapshot root's owner, mode, xattrs and times, as a copy-up would: an xattr in the
    /// overlay's own namespace is stored escaped (kernel) or not at all (fuse-overlayfs). Copied as it is, the overlay
    /// takes it for one of its marks: a root <c>trusted.overlay.opaque</c> hid the whole snapshot under fuse-overlayfs,
    /// and the kernel hid it from the merged view, so the snapshot of the mount lost it.
    /// </summary>
    private static void CopyRootAttributes(string from, string to, OverlayFlavor flavor)
    {
        using var source = LinuxFile.OpenDirectory(from);
        using var target = LinuxFile.OpenDirectory(to);
        var stat = LinuxFile.Stat(source);
        if (LinuxFile.IsRoot)
        {
            LinuxFile.ChangeOwner(target, stat.Uid, stat.Gid);
        }

        LinuxFile.ChangeMode(target, stat.Permissions);
        foreach (var (name, value) in LinuxFile.ReadXattrs(source))
        {
            if (OverlayXattrs.UpperName(name, flavor) is { } stored)
            {
                LinuxFile.SetXattr(target, stored, value);
            }
        }

        LinuxFile.SetTimes(target, stat.ATimeNs, stat.MTimeNs);
    }

    private static bool IsEmpty(string directory)
    {
        using var fd = LinuxFile.OpenDirectory(directory);
        return LinuxFile.ReadDirectory(fd).Count == 0;
    }

    private async Task WatchOverlayAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(s_overlayCheck);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            // Not the topmost mount at the point: a mount stacked on top of the overlay leaves it mounted under it.
            if (!MountTable.Contains(_overlay))
            {
                return;
            }
        }
    }
}
