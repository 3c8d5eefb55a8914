using System.Text;
using Cairn.Native.Linux;

namespace Cairn.Tests.Mount;

/// <summary>
/// Walks two trees side by side (raw byte names, never following links) and asserts they are the same: names, kinds,
/// permission bits, owners, mtimes, sizes, link counts, device numbers, xattrs, symlink targets, file contents, and
/// which names share an inode (hardlinks).
/// </summary>
internal static class TreeComparer
{
    public static int AssertSame(string expected, string actual)
    {
        using var left = LinuxFile.OpenDirectory(expected);
        using var right = LinuxFile.OpenDirectory(actual);
        var inodes = new Dictionary<ulong, ulong>();
        return Compare(left, right, "", inodes);
    }

    private static int Compare(FileDescriptor left, FileDescriptor right, string path, Dictionary<ulong, ulong> inodes)
    {
        var leftNames = Names(left);
        var rightNames = Names(right);
        Assert.True(leftNames.SequenceEqual(rightNames, ByteArrayComparer.Instance),
            $"'{path}' lists [{Show(leftNames)}] in the source but [{Show(rightNames)}] through the mount");
        var count = 0;
        foreach (var name in leftNames)
        {
            var where = path + "/" + PathBytes.Display(name);
            var a = LinuxFile.Stat(left, name);
            var b = LinuxFile.Stat(right, name);
            Assert.True(a.Kind == b.Kind, $"{where}: kind {a.Kind} vs {b.Kind}");
            Assert.True(a.Permissions == b.Permissions, $"{where}: mode {Convert.ToString(a.Permissions, 8)} vs {Convert.ToString(b.Permissions, 8)}");
            Assert.True(a.Uid == b.Uid && a.Gid == b.Gid, $"{where}: owner {a.Uid}:{a.Gid} vs {b.Uid}:{b.Gid}");
            Assert.True(a.MTimeNs == b.MTimeNs, $"{where}: mtime {a.MTimeNs} vs {b.MTimeNs}");
            Assert.True(a.LinkCount == b.LinkCount, $"{where}: link count {a.LinkCount} vs {b.LinkCount}");
            Assert.True(Xattrs(left, name, a.Kind) == Xattrs(right, name, b.Kind), $"{where}: xattrs differ");
            count++;
            switch (a.Kind)
            {
                case FileKind.Directory:
                    using (var l = LinuxFile.OpenAt(left, name, OpenFlags.Directory | OpenFlags.NoFollow))
                    using (var r = LinuxFile.OpenAt(right, name, OpenFlags.Directory | OpenFlags.NoFollow))
                    {
                        count += Compare(l, r, where, inodes);
                    }

                    break;
                case FileKind.Symlink:
                    Assert.Equal(LinuxFile.ReadLinkAt(left, name), LinuxFile.ReadLinkAt(right, name));
                    Assert.Equal(a.Size, b.Size);
                    break;
                case FileKind.Regular:
                    Assert.True(a.Size == b.Size, $"{where}: size {a.Size} vs {b.Size}");
                    Assert.True(ReadAll(left, name).AsSpan().SequenceEqual(ReadAll(right, name)), $"{where}: content differs");
                    if (inodes.TryGetValue(a.Inode, out var seen))
                    {
                        Assert.True(seen == b.Inode, $"{where}: a hardlink in the source, but not the same inode through the mount");
                    }

                    inodes[a.Inode] = b.Inode;
                    break;
                case FileKind.CharDevice or FileKind.BlockDevice:
                    Assert.Equal(a.RDevice, b.RDevice);
                    break;
            }
        }

        return count;
    }

    public static byte[] ReadAll(FileDescriptor directory, ReadOnlySpan<byte> name)
    {
        using var fd = LinuxFile.OpenAt(directory, name, OpenFlags.ReadOnly | OpenFlags.NoFollow);
        var output = new MemoryStream();
        var buffer = new byte[200_000]; // not a power of two: reads straddle chunks and frames
        long offset = 0;
        int n;
        while ((n = LinuxFile.Read(fd, buffer, offset)) > 0)
        {
            output.Write(buffer, 0, n);
            offset += n;
        }

        return output.ToArray();
    }

    private static List<byte[]> Names(FileDescriptor directory)
    {
        var names = LinuxFile.ReadDirectory(directory).Select(e => e.Name).ToList();
        names.Sort(ByteArrayComparer.Instance);
        return names;
    }

    private static string Xattrs(FileDescriptor directory, byte[] name, FileKind kind)
    {
        if (kind == FileKind.Fifo)
        {
            return ""; // user.* xattrs are not allowed on fifos
        }

        var pairs = LinuxFile.ReadXattrs(directory, name)
            .Select(p => $"{Encoding.UTF8.GetString(p.Key)}={Convert.ToHexString(p.Value)}")
            .Where(p => !p.StartsWith("security.", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
        return string.Join(';', pairs);
    }

    private static string Show(List<byte[]> names) => string.Join(", ", names.Select(n => PathBytes.Display(n)));

    private sealed class ByteArrayComparer : IComparer<byte[]>, IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => obj.Length;
    }
}
