using Cairn.Repository;

namespace Cairn.Snapshot;

/// <summary>Which overlay wrote an upper directory: they mark deletions and opaque directories a little differently.</summary>
public enum OverlayFlavor
{
    /// <summary>
    /// Kernel overlayfs, mounted without <c>userxattr</c>: whiteouts are 0:0 character devices (or empty files with
    /// <c>trusted.overlay.whiteout</c>), opaque directories carry <c>trusted.overlay.opaque=y</c>. It keeps
    /// <c>trusted.overlay.*</c> only: <c>user.overlay.*</c> is data.
    /// </summary>
    Kernel,

    /// <summary>
    /// fuse-overlayfs: 0:0 character devices, or (unprivileged) <c>.wh.NAME</c> files; opaque directories carry
    /// <c>trusted.overlay.opaque</c>, <c>user.overlay.opaque</c> or <c>user.fuseoverlayfs.opaque</c>, or a
    /// <c>.wh..wh..opq</c> file. It keeps all of <c>trusted.overlay.*</c>, <c>user.overlay.*</c> and <c>user.fuseoverlayfs.*</c>.
    /// </summary>
    FuseOverlayfs,
}

/// <summary>
/// What <see cref="Archiver.SnapshotOverlayAsync"/> needs: the upper directory of an overlay mounted over
/// <see cref="Base"/>, which kind of overlay wrote it, and the mount point (<see cref="Source"/>): recorded as the
/// snapshot's source, and for a base that is an image snapshot the directory its image paths are named in, and the
/// merged view an untouched image is read through when it must be stored again (a relayout). The upper directory must
/// describe the change completely: no redirects, no metacopy (copied-up files hold their data).
/// </summary>
public sealed record OverlayChanges(string UpperDirectory, OverlayFlavor Flavor, SnapshotRecord Base, string Source);
