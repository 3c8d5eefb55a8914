using Cairn.Native.Linux;

namespace Cairn.Tests.Support;

/// <summary>Small file helpers on raw byte names (relative paths allowed), for trees System.IO cannot name.</summary>
internal static class NativeFiles
{
    public static byte[] ReadAll(FileDescriptor directory, ReadOnlySpan<byte> name)
    {
        using var fd = LinuxFile.OpenAt(directory, name, OpenFlags.ReadOnly | OpenFlags.NoFollow);
        var data = new byte[LinuxFile.Stat(fd).Size];
        var total = 0;
        while (total < data.Length)
        {
            var n = LinuxFile.Read(fd, data.AsSpan(total), total);
            Assert.True(n > 0, "the file got shorter while it was read");
            total += n;
        }

        return data;
    }

    /// <summary>Replaces the content of an existing file (same inode), or creates it with mode 0644.</summary>
    public static void Write(FileDescriptor directory, ReadOnlySpan<byte> name, ReadOnlySpan<byte> content)
    {
        using var fd = LinuxFile.OpenAt(directory, name, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Truncate | OpenFlags.NoFollow, 0b110_100_100);
        LinuxFile.WriteAll(fd, content, 0);
    }

    /// <summary>The xattrs of <paramref name="path"/> (a symlink's own) as "name=value" pairs, values as UTF-8, sorted and joined by "; ".</summary>
    public static string XattrText(string path)
    {
        using var directory = LinuxFile.OpenDirectory(Path.GetDirectoryName(path)!);
        var xattrs = LinuxFile.ReadXattrs(directory, System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path)));
        return string.Join("; ", xattrs.Select(x => $"{System.Text.Encoding.UTF8.GetString(x.Key)}={System.Text.Encoding.UTF8.GetString(x.Value)}").Order(StringComparer.Ordinal));
    }

    /// <summary>The names in a directory, sorted byte-wise.</summary>
    public static List<byte[]> Names(FileDescriptor directory)
    {
        var names = LinuxFile.ReadDirectory(directory).Select(e => e.Name).ToList();
        names.Sort(static (a, b) => a.AsSpan().SequenceCompareTo(b));
        return names;
    }
}
