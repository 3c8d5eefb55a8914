using Cairn.Native.Linux;

namespace Cairn.Storage.S3.Tests.EndToEnd;

/// <summary>
/// Compares two directory trees entry by entry, by byte names: kind, mode, owner, size, mtime (ns), contents, symlink
/// targets, xattrs, which names share an inode (hardlinks), and that a sparse source file is sparse in the copy.
/// </summary>
public static class TreeComparer
{
    /// <summary>Every difference, one line each (empty: the trees are the same).</summary>
    public static List<string> Differences(string expected, string actual)
    {
        var differences = new List<string>();
        using var a = LinuxFile.OpenDirectory(expected);
        using var b = LinuxFile.OpenDirectory(actual);
        var links = (Expected: new Dictionary<ulong, string>(), Actual: new Dictionary<ulong, string>());
        CompareEntry(a, b, LinuxFile.Stat(a), LinuxFile.Stat(b), ".", differences);
        CompareDirectory(a, b, ".", differences, links);
        return differences;
    }

    private static void CompareDirectory(FileDescriptor a, FileDescriptor b, string path, List<string> differences, (Dictionary<ulong, string> Expected, Dictionary<ulong, string> Actual) links)
    {
        var left = LinuxFile.ReadDirectory(a).Select(e => e.Name).OrderBy(n => n, ByteComparer.Instance).ToList();
        var right = LinuxFile.ReadDirectory(b).Select(e => e.Name).OrderBy(n => n, ByteComparer.Instance).ToList();
        foreach (var missing in left.Except(right, ByteComparer.Instance))
        {
            differences.Add($"{Join(path, missing)}: missing");
        }

        foreach (var extra in right.Except(left, ByteComparer.Instance))
        {
            differences.Add($"{Join(path, extra)}: unexpected");
        }

        foreach (var name in left.Intersect(right, ByteComparer.Instance))
        {
            var child = Join(path, name);
            var sa = LinuxFile.Stat(a, name);
            var sb = LinuxFile.Stat(b, name);
            if (!CompareEntry(a, b, sa, sb, child, differences, name))
            {
                continue;
            }

            if (sa.Kind == FileKind.Regular && sa.LinkCount > 1)
            {
                // Names that share an inode in the source must share one in the copy, and the same one.
                var first = links.Expected.TryAdd(sa.Inode, child) ? child : links.Expected[sa.Inode];
                var firstCopy = links.Actual.TryAdd(sb.Inode, child) ? child : links.Actual[sb.Inode];
                if (first != firstCopy)
                {
                    differences.Add($"{child}: hardlinked to {firstCopy}, expected {first}");
                }
            }

            if (sa.Kind == FileKind.Directory)
            {
                using var da = LinuxFile.OpenAt(a, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
                using var db = LinuxFile.OpenAt(b, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
                CompareDirectory(da, db, child, differences, links);
            }
        }
    }

    /// <summary>Compares one entry; false when the kinds differ (nothing more to compare).</summary>
    private static bool CompareEntry(FileDescriptor a, FileDescriptor b, StatxInfo sa, StatxInfo sb, string path, List<string> differences, byte[]? name = null)
    {
        if (sa.Kind != sb.Kind)
        {
            differences.Add($"{path}: {sb.Kind}, expected {sa.Kind}");
            return false;
        }

        Check(differences, path, "mode", sa.Permissions, sb.Permissions, m => Convert.ToString(m, 8));
        Check(differences, path, "owner", (sa.Uid, sa.Gid), (sb.Uid, sb.Gid));
        Check(differences, path, "mtime", sa.MTimeNs, sb.MTimeNs);
        if (sa.Kind != FileKind.Directory)
        {
            Check(differences, path, "size", sa.Size, sb.Size);
        }

        if (name is null)
        {
            return true;
        }

        switch (sa.Kind)
        {
            case FileKind.Symlink:
                Check(differences, path, "target", PathBytes.Display(LinuxFile.ReadLinkAt(a, name)), PathBytes.Display(LinuxFile.ReadLinkAt(b, name)));
                break;
            case FileKind.Regular:
                using (var fa = LinuxFile.OpenAt(a, name, OpenFlags.ReadOnly | OpenFlags.NoFollow))
                using (var fb = LinuxFile.OpenAt(b, name, OpenFlags.ReadOnly | OpenFlags.NoFollow))
                {
                    CompareContents(fa, fb, sa.Size, path, differences);
                    Check(differences, path, "xattrs", Xattrs(fa), Xattrs(fb));
                    if (sa.Blocks * 512 < sa.Size && sb.Blocks * 512 >= sb.Size)
                    {
                        differences.Add($"{path}: not sparse ({sb.Blocks * 512} bytes allocated for {sb.Size})");
                    }
                }

                break;
        }

        return true;
    }

    private static void CompareContents(FileDescriptor a, FileDescriptor b, long size, string path, List<string> differences)
    {
        var ba = new byte[1 << 20];
        var bb = new byte[1 << 20];
        for (long offset = 0; offset < size; offset += ba.Length)
        {
            var want = (int)Math.Min(ba.Length, size - offset);
            if (LinuxFile.Read(a, ba.AsSpan(0, want), offset) != want || LinuxFile.Read(b, bb.AsSpan(0, want), offset) != want
                || !ba.AsSpan(0, want).SequenceEqual(bb.AsSpan(0, want)))
            {
                differences.Add($"{path}: contents differ in the MiB at {offset}");
                return;
            }
        }
    }

    private static string Xattrs(FileDescriptor fd) =>
        string.Join(", ", LinuxFile.ReadXattrs(fd).Select(x => $"{PathBytes.Display(x.Key)}={Convert.ToHexString(x.Value)}").Order(StringComparer.Ordinal));

    private static void Check<T>(List<string> differences, string path, string what, T expected, T actual, Func<T, string>? format = null)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
        {
            format ??= v => v?.ToString() ?? "null";
            differences.Add($"{path}: {what} {format(actual)}, expected {format(expected)}");
        }
    }

    private static string Join(string path, byte[] name) => path == "." ? PathBytes.Display(name) : $"{path}/{PathBytes.Display(name)}";

    private sealed class ByteComparer : IComparer<byte[]>, IEqualityComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }
}
