using System.Text;

namespace Cairn.Native.Fuse;

/// <summary>Reads /proc/self/mountinfo to tell whether a path is a FUSE mount point.</summary>
internal static class FuseMountTable
{
    /// <summary>The topmost mount at <paramref name="mountPoint"/>, or null if it is not a mount point.</summary>
    internal static MountEntry? Find(string mountPoint)
    {
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountPoint));
        MountEntry? found = null;
        foreach (string line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mount-point options [optional fields...] - type source super-options
            string[] fields = line.Split(' ');
            int separator = Array.IndexOf(fields, "-");
            if (fields.Length < 5 || separator < 0 || separator + 1 >= fields.Length)
            {
                continue;
            }

            if (Unescape(fields[4]) == target)
            {
                found = new MountEntry(fields[separator + 1], fields[2]); // later lines are stacked on top of earlier ones
            }
        }

        return found;
    }

    /// <summary>File-system type (for example "fuse.cairn") of the topmost mount at <paramref name="mountPoint"/>, or null.</summary>
    internal static string? FindMountType(string mountPoint) => Find(mountPoint)?.Type;

    internal static bool IsFuseMount(string mountPoint)
        => Find(mountPoint) is { } mount && (mount.Type == "fuse" || mount.Type == "fuseblk" || mount.Type.StartsWith("fuse.", StringComparison.Ordinal));

    // mountinfo escapes space, tab, newline and backslash as \ooo.
    private static string Unescape(string field)
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

/// <summary>One line of /proc/self/mountinfo: file-system type and "major:minor" of the super block.</summary>
internal sealed record MountEntry(string Type, string Device)
{
    /// <summary>The kernel's dev_t (MKDEV(major, minor)), which names the connection in /sys/fs/fuse/connections.</summary>
    internal uint KernelDevice
    {
        get
        {
            string[] parts = Device.Split(':');
            return (uint.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) << 20)
                | uint.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}
