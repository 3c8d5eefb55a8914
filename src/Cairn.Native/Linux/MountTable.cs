using System.Text;

namespace Cairn.Native.Linux;

/// <summary>
/// One line of /proc/self/mountinfo: where it is mounted, the super block's "major:minor", the file-system type
/// (e.g. <c>fuse.cairn</c>, <c>overlay</c>), the source (FUSE's fsname) and the super-block options (an overlay's
/// <c>lowerdir=…,upperdir=…</c>).
/// </summary>
public sealed record MountInfo(string MountPoint, string Device, string Type, string Source, string SuperOptions)
{
    /// <summary>The kernel's dev_t (MKDEV(major, minor)), which names a FUSE connection in /sys/fs/fuse/connections.</summary>
    public uint KernelDevice
    {
        get
        {
            string[] parts = Device.Split(':');
            return (uint.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) << 20)
                | uint.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public bool IsFuse => Type == "fuse" || Type == "fuseblk" || Type.StartsWith("fuse.", StringComparison.Ordinal);

    /// <summary>
    /// The value of super-block option <paramref name="name"/> (e.g. <c>upperdir</c>), or null, with the mount table's
    /// <c>\ooo</c> escapes removed. A file system that shows paths in its options (overlayfs, through
    /// seq_show_option) escapes commas, spaces, tabs, newlines and backslashes in values that way, so splitting at commas
    /// is exact for it (checked on 6.18). Escapes of the file system's own are left in the value: overlayfs shows
    /// <c>upperdir</c> as it was given, so a path with ',' or ':' reads <c>/up\,a\:b</c> here (OverlayLayer removes them).
    /// </summary>
    public string? Option(string name)
    {
        foreach (string option in SuperOptions.Split(','))
        {
            if (option.Length > name.Length && option[name.Length] == '=' && option.StartsWith(name, StringComparison.Ordinal))
            {
                return MountTable.Unescape(option[(name.Length + 1)..]);
            }
        }

        return null;
    }
}

/// <summary>Reads /proc/self/mountinfo.</summary>
public static class MountTable
{
    /// <summary>True if the topmost mount at <paramref name="mountPoint"/> is a FUSE file system.</summary>
    public static bool IsFuseMount(string mountPoint) => Find(mountPoint) is { IsFuse: true };

    /// <summary>The topmost mount at <paramref name="mountPoint"/>, or null if it is not a mount point.</summary>
    public static MountInfo? Find(string mountPoint) => At(mountPoint).LastOrDefault();

    /// <summary>
    /// True if <paramref name="mount"/> is still mounted, on top at its mount point or covered by a mount stacked on it
    /// later. (A mount detached lazily leaves the table at once, though it lives on while files in it are open.)
    /// </summary>
    public static bool Contains(MountInfo mount)
    {
        ArgumentNullException.ThrowIfNull(mount);
        return At(mount.MountPoint).Contains(mount);
    }

    /// <summary>The mounts at <paramref name="mountPoint"/>, the one at the bottom first.</summary>
    public static IEnumerable<MountInfo> At(string mountPoint)
    {
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mount-point options [optional fields...] - type source super-options
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || separator < 0 || separator + 2 >= fields.Length)
            {
                continue;
            }

            if (Unescape(fields[4]) == target)
            {
                // Later lines are stacked on top of earlier ones.
                yield return new MountInfo(target, fields[2], fields[separator + 1], Unescape(fields[separator + 2]), separator + 3 < fields.Length ? fields[separator + 3] : "");
            }
        }
    }

    // mountinfo escapes space, tab, newline and backslash (and, in option values, comma) as \ooo.
    internal static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        byte[] input = Encoding.UTF8.GetBytes(field);
        var output = new List<byte>(input.Length);
        for (int i = 0; i < input.Length; i++)
        {
            if (input[i] == '\\' && i + 3 < input.Length && IsOctal(input[i + 1]) && IsOctal(input[i + 2]) && IsOctal(input[i + 3]))
            {
                output.Add((byte)(((input[i + 1] - '0') << 6) | ((input[i + 2] - '0') << 3) | (input[i + 3] - '0')));
                i += 3;
            }
            else
            {
                output.Add(input[i]);
            }
        }

        return Encoding.UTF8.GetString([.. output]);
    }

    private static bool IsOctal(byte b) => b is >= (byte)'0' and <= (byte)'7';
}
