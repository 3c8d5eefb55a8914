using Cairn.IO;
using Cairn.Repository;

namespace Cairn.Mount;

/// <summary>
/// The directory a writable mount keeps its layers in: <c>upper/</c> (the changes: what the overlay writes),
/// <c>work/</c> (the overlay's work directory, which must be on the upper directory's file system), <c>lower/</c>
/// (the hidden mount point of the snapshot) and <c>overlay.json</c> (<see cref="OverlayState"/>). The upper
/// directory alone describes the change, so <c>cairn snapshot --from-mount</c> finds everything from it.
/// </summary>
public sealed record OverlayDirectory(string Path)
{
    public string Upper => System.IO.Path.Combine(Path, "upper");

    public string Work => System.IO.Path.Combine(Path, "work");

    public string Lower => System.IO.Path.Combine(Path, "lower");

    public string StateFile => System.IO.Path.Combine(Path, OverlayState.FileName);

    /// <summary>
    /// <c>$XDG_STATE_HOME/cairn/overlays</c>, else <c>~/.local/state/cairn/overlays</c>: state, not cache (the upper
    /// directory holds the only copy of the changes until they are snapshotted, and a cache may be cleared at any
    /// time), and not the runtime directory (a tmpfs: the changes would be lost at reboot and limited by memory).
    /// </summary>
    public static string DefaultRoot
    {
        get
        {
            var state = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
            if (string.IsNullOrEmpty(state))
            {
                state = System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state");
            }

            return System.IO.Path.Combine(state, "cairn", "overlays");
        }
    }

    /// <summary>A new directory under <see cref="DefaultRoot"/>, named by the snapshot and a random suffix: every mount starts with no changes.</summary>
    public static OverlayDirectory CreateDefault(SnapshotRecord snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var name = $"{snapshot.Id.ToShortString()}-{RandomName.Hex(8)}";
        return new OverlayDirectory(System.IO.Path.Combine(DefaultRoot, name));
    }

    /// <summary>The overlay directory an upper directory belongs to (its parent).</summary>
    public static OverlayDirectory OfUpper(string upper) =>
        new(System.IO.Path.GetDirectoryName(System.IO.Path.TrimEndingDirectorySeparator(upper)) ?? "/");
}
