using System.Runtime.Versioning;
using Cairn.Native.Fuse;
using Cairn.Native.Linux;

namespace Cairn.Mount;

/// <summary>What a mount point must be before a snapshot is mounted there.</summary>
[SupportedOSPlatform("linux")]
public static class MountPoints
{
    /// <summary>What the source of a Cairn mount starts with (FUSE's fsname, the overlay's source), before the snapshot's short id.</summary>
    public const string SourcePrefix = "cairn:";

    /// <summary>
    /// Detaches a Cairn mount left at <paramref name="mountPoint"/> by a server that died (returns true if there was
    /// one), and refuses a live one (<see cref="ThrowIfCairnMount"/>).
    /// </summary>
    public static bool Prepare(string mountPoint)
    {
        var stale = OverlayLayer.CleanupStale(mountPoint) || FuseMount.CleanupStale(mountPoint);
        ThrowIfCairnMount(mountPoint);
        return stale;
    }

    /// <summary>
    /// Refuses a mount point where a live Cairn mount is on top. Mounting there would stack the new mount on it: the
    /// old one would go on running out of sight, and unmounting "it" would take the new one away instead. One whose
    /// server died is left for <see cref="Prepare"/> to detach.
    /// </summary>
    /// <exception cref="UsageException">A Cairn mount is there.</exception>
    public static void ThrowIfCairnMount(string mountPoint)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        string? what = null;
        if (OverlayLayer.Find(full) is var (state, _))
        {
            what = FuseMount.IsStale(state.Lower) ? null : $"the writable mount of snapshot {state.Snapshot[..12]}";
        }
        else if (MountTable.Find(full) is { IsFuse: true } fuse && fuse.Source.StartsWith(SourcePrefix, StringComparison.Ordinal))
        {
            what = FuseMount.IsStale(full) ? null : $"the mount of snapshot {fuse.Source[SourcePrefix.Length..]}";
        }

        if (what is not null)
        {
            throw new UsageException($"'{full}' holds {what}: unmount it first (cairn umount {full})");
        }
    }
}
