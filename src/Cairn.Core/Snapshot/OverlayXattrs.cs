namespace Cairn.Snapshot;

/// <summary>
/// Which xattrs of an upper directory are an overlay's own, and under which name the others stand in its merged view.
/// Each flavor has its own rules (found by experiment on kernel 6.18 and fuse-overlayfs 1.10, and in their sources):
/// <list type="bullet">
/// <item>Kernel overlayfs, mounted without <c>userxattr</c> as Cairn mounts it, keeps <c>trusted.overlay.*</c> for
/// itself; <c>user.overlay.*</c> is anybody's data there (rootless podman's storage carries it). Since 6.7 it stores a
/// user's own <c>trusted.overlay.X</c> escaped, as <c>trusted.overlay.overlay.X</c>, and shows it as
/// <c>trusted.overlay.X</c>.</item>
/// <item>fuse-overlayfs keeps <c>trusted.overlay.*</c>, <c>user.overlay.*</c> and <c>user.fuseoverlayfs.*</c>: it
/// hides all three from its merged view, drops them on a copy-up and escapes nothing.</item>
/// </list>
/// </summary>
public static class OverlayXattrs
{
    private static ReadOnlySpan<byte> TrustedPrefix => "trusted.overlay."u8;

    private static ReadOnlySpan<byte> EscapedPrefix => "trusted.overlay.overlay."u8;

    private static ReadOnlySpan<byte> UserPrefix => "user.overlay."u8;

    private static ReadOnlySpan<byte> FuseOverlayfsPrefix => "user.fuseoverlayfs."u8;

    /// <summary>
    /// The name an upper directory's xattr <paramref name="name"/> has in the merged view: itself, unescaped
    /// (kernel: <c>trusted.overlay.overlay.X</c> is <c>trusted.overlay.X</c>), or null if it is one of the overlay's own.
    /// </summary>
    public static byte[]? ViewName(byte[] name, OverlayFlavor flavor)
    {
        ArgumentNullException.ThrowIfNull(name);
        var span = name.AsSpan();
        if (flavor == OverlayFlavor.Kernel)
        {
            if (span.StartsWith(EscapedPrefix))
            {
                return [.. TrustedPrefix, .. span[EscapedPrefix.Length..]];
            }

            return span.StartsWith(TrustedPrefix) ? null : name;
        }

        return span.StartsWith(TrustedPrefix) || span.StartsWith(UserPrefix) || span.StartsWith(FuseOverlayfsPrefix) ? null : name;
    }

    /// <summary>
    /// The name the overlay stores a merged view's xattr <paramref name="name"/> under in its upper directory, as a
    /// copy-up or a setxattr through it does: itself, escaped (kernel), or null if the overlay keeps none of that name.
    /// </summary>
    public static byte[]? UpperName(byte[] name, OverlayFlavor flavor)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (flavor == OverlayFlavor.Kernel)
        {
            var span = name.AsSpan();
            return span.StartsWith(TrustedPrefix) ? [.. EscapedPrefix, .. span[TrustedPrefix.Length..]] : name;
        }

        return ViewName(name, flavor);
    }

    /// <summary>An upper directory's xattrs as the merged view has them: the overlay's own left out, escaped names unescaped.</summary>
    public static List<KeyValuePair<byte[], byte[]>>? View(List<KeyValuePair<byte[], byte[]>>? xattrs, OverlayFlavor flavor)
    {
        if (xattrs is null || xattrs.TrueForAll(x => ViewName(x.Key, flavor) == x.Key))
        {
            return xattrs;
        }

        var view = new List<KeyValuePair<byte[], byte[]>>(xattrs.Count);
        foreach (var (name, value) in xattrs)
        {
            if (ViewName(name, flavor) is { } shown)
            {
                view.Add(new(shown, value));
            }
        }

        return view;
    }
}
