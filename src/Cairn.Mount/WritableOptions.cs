using Cairn.Native.Linux;
using Cairn.Snapshot;

namespace Cairn.Mount;

/// <summary>How <see cref="WritableMount.StartAsync"/> puts an overlay on a snapshot.</summary>
public sealed record WritableOptions
{
    /// <summary>Where the layers live (<see cref="OverlayDirectory"/>); null: a new directory under <see cref="OverlayDirectory.DefaultRoot"/>.</summary>
    public string? Directory { get; init; }

    /// <summary>Which overlay; null: kernel overlayfs as root, fuse-overlayfs otherwise.</summary>
    public OverlayFlavor? Overlay { get; init; }

    /// <summary>The repository location as the user gave it, recorded in <c>overlay.json</c> for messages.</summary>
    public required string RepositoryLocation { get; init; }

    internal OverlayFlavor Flavor => Overlay ?? (LinuxFile.IsRoot ? OverlayFlavor.Kernel : OverlayFlavor.FuseOverlayfs);
}
