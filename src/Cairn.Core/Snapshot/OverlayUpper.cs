using Cairn.Manifests;
using Cairn.Native.Linux;

namespace Cairn.Snapshot;

/// <summary>
/// One child of a directory in a merged tree: listed on disk (<see cref="Listed"/>) or taken from the parent
/// manifest by reference (<see cref="Listed"/> null). <see cref="Parent"/> is the parent-manifest entry that goes
/// with it: for a listed regular file, the one of the same name (a plain snapshot reuses it if unchanged); for a
/// listed directory, the directory whose children are merged under it; for a child not listed, the entry itself.
/// </summary>
internal readonly record struct MergedChild(ChildInfo? Listed, int Parent);

/// <summary>
/// How an overlay's upper directory reads as a change to the lower tree: which names are whiteouts (deletions) and
/// which directories are opaque (they replace the lower one entirely), each as the overlay that wrote it reads them
/// (which xattrs are its own: <see cref="OverlayXattrs"/>).
/// </summary>
internal static class OverlayUpper
{
    private static ReadOnlySpan<byte> WhiteoutPrefix => ".wh."u8;

    private static ReadOnlySpan<byte> OpaqueMarker => ".wh..wh..opq"u8;

    // Kernel overlayfs only: fuse-overlayfs 1.10 knows no xattr whiteouts.
    private static ReadOnlySpan<byte> WhiteoutXattr => "trusted.overlay.whiteout"u8;

    private static readonly byte[] s_kernelOpaque = "trusted.overlay.opaque"u8.ToArray();

    // fuse-overlayfs takes the first of these a directory has, and its value's first byte (is_directory_opaque).
    private static readonly byte[][] s_fuseOverlayfsOpaque = ["trusted.overlay.opaque"u8.ToArray(), "user.overlay.opaque"u8.ToArray(), "user.fuseoverlayfs.opaque"u8.ToArray()];

    /// <summary>
    /// An upper directory marked opaque by an xattr, as the overlay that wrote it reads the mark: the lower directory of
    /// that name is hidden entirely. Kernel overlayfs: <c>trusted.overlay.opaque</c> is exactly <c>y</c> (<c>x</c> marks a
    /// directory holding xattr whiteouts, not an opaque one; <c>user.overlay.opaque</c> is a user's xattr).
    /// fuse-overlayfs: <c>trusted.overlay.opaque</c>, else <c>user.overlay.opaque</c>, else
    /// <c>user.fuseoverlayfs.opaque</c>, starting with <c>y</c>.
    /// </summary>
    public static bool IsOpaque(List<KeyValuePair<byte[], byte[]>>? xattrs, OverlayFlavor flavor)
    {
        if (xattrs is null)
        {
            return false;
        }

        if (flavor == OverlayFlavor.Kernel)
        {
            return xattrs.Exists(x => x.Key.AsSpan().SequenceEqual(s_kernelOpaque) && x.Value.AsSpan().SequenceEqual("y"u8));
        }

        foreach (var name in s_fuseOverlayfsOpaque)
        {
            var found = xattrs.FindIndex(x => x.Key.AsSpan().SequenceEqual(name));
            if (found >= 0)
            {
                return xattrs[found].Value is [(byte)'y', ..];
            }
        }

        return false;
    }

    /// <summary>
    /// An upper root marked opaque: fuse-overlayfs then hides the whole lower layer; kernel overlayfs ignores the mark
    /// on its root (tried on 6.18), so there it hides nothing.
    /// </summary>
    public static bool IsOpaqueRoot(List<KeyValuePair<byte[], byte[]>>? xattrs, OverlayFlavor flavor) =>
        flavor == OverlayFlavor.FuseOverlayfs && IsOpaque(xattrs, flavor);

    /// <summary>
    /// The merged children of one directory, sorted by name: the upper directory's listing without whiteouts, and
    /// the children of <paramref name="lowerDirectory"/> (-1: none, or opaque) that no upper entry replaces or hides.
    /// </summary>
    public static List<MergedChild> Merge(DirectoryHandle upper, List<ChildInfo> listing, Manifest lower, int lowerDirectory, OverlayFlavor flavor)
    {
        var visible = new List<MergedChild>(listing.Count);
        var covered = new HashSet<int>();
        var opaque = lowerDirectory < 0;
        foreach (var child in listing)
        {
            if (IsOpaqueMarker(child, flavor))
            {
                opaque = true;
                continue;
            }

            var hides = WhiteoutTarget(upper, child, flavor);
            var match = lowerDirectory >= 0 ? lower.Lookup(lowerDirectory, hides ?? child.Name) : -1;
            if (match >= 0)
            {
                covered.Add(match);
            }

            if (hides is null)
            {
                var mergeUnder = child.Subdirectory is not null && match >= 0 && lower.Entries[match].Kind == EntryKind.Directory && !IsOpaque(child.Xattrs, flavor);
                visible.Add(new MergedChild(child, mergeUnder ? match : -1));
            }
        }

        if (opaque)
        {
            // An opaque directory's upper children are all there is, and nothing below them is merged either.
            return visible.ConvertAll(static c => c with { Parent = -1 });
        }

        ref readonly var directory = ref lower.Entries[lowerDirectory];
        var merged = new List<MergedChild>(visible.Count + (int)directory.Count - covered.Count);
        var v = 0;
        for (var b = (int)directory.First; b < directory.First + directory.Count; b++)
        {
            if (covered.Contains(b))
            {
                continue;
            }

            var name = lower.NameOf(b);
            while (v < visible.Count && visible[v].Listed!.Name.AsSpan().SequenceCompareTo(name) < 0)
            {
                merged.Add(visible[v++]);
            }

            merged.Add(new MergedChild(null, b));
        }

        merged.AddRange(visible.Skip(v));
        return merged;
    }

    /// <summary>Whether <paramref name="child"/> is one of the overlay's marks (a whiteout, an opaque marker) rather than an entry of the merged view.</summary>
    public static bool IsMark(DirectoryHandle upper, ChildInfo child, OverlayFlavor flavor) =>
        IsOpaqueMarker(child, flavor) || WhiteoutTarget(upper, child, flavor) is not null;

    private static bool IsOpaqueMarker(ChildInfo child, OverlayFlavor flavor) =>
        flavor == OverlayFlavor.FuseOverlayfs && child.Name.AsSpan().SequenceEqual(OpaqueMarker);

    /// <summary>The name a whiteout hides, or null if <paramref name="child"/> is not a whiteout.</summary>
    private static byte[]? WhiteoutTarget(DirectoryHandle upper, ChildInfo child, OverlayFlavor flavor)
    {
        if (flavor == OverlayFlavor.FuseOverlayfs && child.Name.AsSpan().StartsWith(WhiteoutPrefix))
        {
            return child.Name[WhiteoutPrefix.Length..];
        }

        var stat = child.Stat;
        if (stat.Kind == FileKind.CharDevice && stat.RDevice == 0)
        {
            return child.Name;
        }

        // An xattr whiteout: an empty file marked as one (regular files' xattrs are not listed, so ask).
        if (flavor == OverlayFlavor.Kernel && stat.Kind == FileKind.Regular && stat.Size == 0
            && LinuxFile.ReadXattrs(upper.Descriptor, child.Name).Exists(x => x.Key.AsSpan().SequenceEqual(WhiteoutXattr)))
        {
            return child.Name;
        }

        return null;
    }
}
