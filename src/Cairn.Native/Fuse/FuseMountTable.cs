using Cairn.Native.Linux;

namespace Cairn.Native.Fuse;

/// <summary>Tells from /proc/self/mountinfo whether a path is a FUSE mount point.</summary>
internal static class FuseMountTable
{
    /// <summary>The topmost mount at <paramref name="mountPoint"/>, or null if it is not a mount point.</summary>
    internal static MountInfo? Find(string mountPoint) => MountTable.Find(mountPoint);

    internal static bool IsFuseMount(string mountPoint) => MountTable.Find(mountPoint) is { IsFuse: true };
}
