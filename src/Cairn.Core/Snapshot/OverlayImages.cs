using System.Text;
using Cairn.Manifests;
using Cairn.Native.Linux;

namespace Cairn.Snapshot;

/// <summary>
/// The top of a writable mount of an image snapshot, as its upper directory changes it: opened and checked before any
/// repository work, as <see cref="ImageSet"/> is. An image snapshot holds regular files by name and nothing else, so
/// every entry of the upper root other than the overlay's marks must be a regular file (a changed image, copied up
/// whole, or a new one); a directory, symlink, FIFO, device or socket there is refused, naming its path in the mount.
/// Below the root there is nothing to look at: an image snapshot has no subdirectories, and a new one is refused.
/// </summary>
internal sealed class OverlayImages(DirectoryHandle upper, List<ChildInfo> listing, bool opaque, OverlayFlavor flavor, string mountPoint) : IDisposable
{
    /// <summary>The upper directory: changed and new images are read from here.</summary>
    public DirectoryHandle Upper { get; } = upper;

    /// <summary>The mount point (the merged view): the images' paths are named after it.</summary>
    public string MountPoint { get; } = mountPoint;

    public static OverlayImages Open(OverlayChanges changes)
    {
        var upperPath = Path.GetFullPath(changes.UpperDirectory);
        var mountPoint = Path.TrimEndingDirectorySeparator(Path.GetFullPath(changes.Source));
        FileDescriptor fd;
        try
        {
            fd = LinuxFile.OpenDirectory(upperPath);
        }
        catch (LinuxIOException e)
        {
            throw new UsageException($"cannot snapshot '{upperPath}': {e.Message}");
        }

        var upper = new DirectoryHandle(fd, Encoding.UTF8.GetBytes(upperPath));
        List<ChildInfo> listing = [];
        try
        {
            // Never skipped (--skip-unreadable): an image left out of the listing would be taken from the base, old.
            listing = TreeWalker.List(upper, static (path, e) => throw new CairnException($"cannot read '{Manifest.Display(path)}': {e.Message}", e));
            var opaque = OverlayUpper.IsOpaqueRoot(LinuxFile.ReadXattrs(fd), changes.Flavor);
            if (listing.Find(child => child.Stat.Kind != FileKind.Regular && !OverlayUpper.IsMark(upper, child, changes.Flavor)) is { } other)
            {
                throw new UsageException($"'{mountPoint}/{Manifest.Display(other.Name)}' is {FileKinds.Describe(other.Stat.Kind)}: a mount of an image snapshot can hold only its images, regular files at its top (remove it, or snapshot the mount as a directory tree: cairn snapshot {mountPoint})");
            }

            return new OverlayImages(upper, listing, opaque, changes.Flavor, mountPoint);
        }
        catch
        {
            Release(upper, listing);
            throw;
        }
    }

    /// <summary>
    /// The images of the merged view, sorted by name: the upper directory's files (changed or new), and the base's
    /// images it neither replaces nor deletes (a whiteout drops one; an opaque root, all).
    /// </summary>
    public List<MergedChild> Merge(Manifest baseManifest) => OverlayUpper.Merge(Upper, listing, baseManifest, opaque ? -1 : 0, flavor);

    public void Dispose() => Release(Upper, listing);

    private static void Release(DirectoryHandle upper, List<ChildInfo> listing)
    {
        foreach (var child in listing)
        {
            child.Subdirectory?.Release();
        }

        upper.Release();
    }
}
