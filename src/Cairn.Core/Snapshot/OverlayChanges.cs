using Cairn.Repository;

namespace Cairn.Snapshot;

/// <summary>Which overlay wrote an upper directory: they mark deletions and opaque directories a little differently.</summary>
public enum OverlayFlavor
{
    /// <summary>Kernel overlayfs: whiteouts are 0:0 character devices (or empty files with <c>trusted.overlay.whiteout</c>), opaque directories carry <c>trusted.overlay.opaque=y</c>.</summary>
    Kernel,

    /// <summary>fuse-overlayfs: the kernel's marks, or (unprivileged) <c>.wh.NAME</c> files and a <c>.wh..wh..opq</c> file in opaque directories.</summary>
    FuseOverlayfs,
}

/// <summary>
/// What <see cref="Archiver.SnapshotOverlayAsync"/> needs: the upper directory of an overlay mounted over
/// <see cref="Base"/>, which kind of overlay wrote it, and the path recorded as the snapshot's source. The upper
/// directory must describe the change completely: no redirects, no metacopy (copied-up files hold their data).
/// </summary>
public sealed record OverlayChanges(string UpperDirectory, OverlayFlavor Flavor, SnapshotRecord Base, string Source);
