using Cairn.Native.Linux;

namespace Cairn.Tests.Support;

/// <summary>
/// Compares two real directory trees exactly, through raw byte names relative to directory descriptors (no
/// System.IO: names need not be UTF-8 and paths may exceed PATH_MAX). Per entry: kind, permission bits (07777),
/// owner, mtime in ns (of symlinks and directories too), size, content, hole layout (SEEK_DATA/SEEK_HOLE extents),
/// symlink target, device number, extended attributes, and hardlink groups: two names share an inode in one tree
/// exactly when they do in the other. The root directory's own metadata is compared as well; its name is not.
/// Hole layout can be left out, for a tree read through a file system that does not report holes (a FUSE mount).
/// </summary>
internal static class TreeComparer
{
    private const int MaxDifferences = 40;
    private const int BlockSize = 256 << 10;

    /// <summary>Every difference found (at most <see cref="MaxDifferences"/>), as readable lines; empty when the trees are equal.</summary>
    public static List<string> Compare(string expected, string actual, bool holes = true)
    {
        using var a = LinuxFile.OpenDirectory(expected);
        using var b = LinuxFile.OpenDirectory(actual);
        var walk = new Walk(holes);
        walk.CompareMetadata([], LinuxFile.Stat(a), LinuxFile.Stat(b), LinuxFile.ReadXattrs(a), LinuxFile.ReadXattrs(b));
        walk.CompareDirectories([], a, b);
        return walk.Differences;
    }

    public static void AssertEqual(string expected, string actual, bool holes = true)
    {
        var differences = Compare(expected, actual, holes);
        Assert.True(differences.Count == 0, $"'{actual}' differs from '{expected}':\n  {string.Join("\n  ", differences)}");
    }

    /// <summary>The byte ranges holding data, as SEEK_DATA/SEEK_HOLE report them (holes are the gaps).</summary>
    public static List<(long Offset, long Length)> DataExtents(FileDescriptor fd, long size)
    {
        var extents = new List<(long, long)>();
        long position = 0;
        while (position < size)
        {
            var data = LinuxFile.SeekData(fd, position);
            if (data < 0)
            {
                break;
            }

            var hole = Math.Min(LinuxFile.SeekHole(fd, data), size);
            extents.Add((data, hole - data));
            position = hole;
        }

        return extents;
    }

    private sealed class Walk(bool holes)
    {
        private readonly Dictionary<ulong, string> _leadersA = [];
        private readonly Dictionary<ulong, string> _leadersB = [];
        private readonly byte[] _blockA = new byte[BlockSize];
        private readonly byte[] _blockB = new byte[BlockSize];

        public List<string> Differences { get; } = [];

        public void CompareDirectories(byte[] path, FileDescriptor a, FileDescriptor b)
        {
            var namesA = SortedNames(a);
            var namesB = SortedNames(b);
            int i = 0, j = 0;
            while ((i < namesA.Count || j < namesB.Count) && Differences.Count < MaxDifferences)
            {
                var c = i >= namesA.Count ? 1 : j >= namesB.Count ? -1 : namesA[i].AsSpan().SequenceCompareTo(namesB[j]);
                if (c < 0)
                {
                    Add(Join(path, namesA[i++]), "missing");
                }
                else if (c > 0)
                {
                    Add(Join(path, namesB[j++]), "unexpected");
                }
                else
                {
                    CompareEntry(Join(path, namesA[i]), a, b, namesA[i]);
                    i++;
                    j++;
                }
            }
        }

        public void CompareMetadata(byte[] path, in StatxInfo sa, in StatxInfo sb, List<KeyValuePair<byte[], byte[]>> xa, List<KeyValuePair<byte[], byte[]>> xb)
        {
            if (sa.Kind != FileKind.Symlink && sa.Permissions != sb.Permissions)
            {
                Add(path, $"mode {Octal(sa.Permissions)} != {Octal(sb.Permissions)}");
            }

            if (sa.Uid != sb.Uid || sa.Gid != sb.Gid)
            {
                Add(path, $"owner {sa.Uid}:{sa.Gid} != {sb.Uid}:{sb.Gid}");
            }

            if (sa.MTimeNs != sb.MTimeNs)
            {
                Add(path, $"mtime {sa.MTimeNs} ns != {sb.MTimeNs} ns");
            }

            var textA = XattrText(xa);
            var textB = XattrText(xb);
            if (textA != textB)
            {
                Add(path, $"xattrs [{textA}] != [{textB}]");
            }
        }

        private void CompareEntry(byte[] path, FileDescriptor dirA, FileDescriptor dirB, byte[] name)
        {
            var sa = LinuxFile.Stat(dirA, name);
            var sb = LinuxFile.Stat(dirB, name);
            if (sa.Kind != sb.Kind)
            {
                Add(path, $"kind {sa.Kind} != {sb.Kind}");
                return;
            }

            CompareMetadata(path, sa, sb, LinuxFile.ReadXattrs(dirA, name), LinuxFile.ReadXattrs(dirB, name));
            if (sa.Kind != FileKind.Directory)
            {
                var display = PathBytes.Display(path);
                var leaderA = _leadersA.TryAdd(sa.Inode, display) ? display : _leadersA[sa.Inode];
                var leaderB = _leadersB.TryAdd(sb.Inode, display) ? display : _leadersB[sb.Inode];
                if (leaderA != leaderB)
                {
                    Add(path, $"hardlink group: same inode as '{leaderA}' expected, same inode as '{leaderB}' found");
                }
            }

            switch (sa.Kind)
            {
                case FileKind.Directory:
                    using (var a = LinuxFile.OpenAt(dirA, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow))
                    using (var b = LinuxFile.OpenAt(dirB, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow))
                    {
                        CompareDirectories(path, a, b);
                    }

                    break;
                case FileKind.Regular:
                    if (sa.Size != sb.Size)
                    {
                        Add(path, $"size {sa.Size} != {sb.Size}");
                        break;
                    }

                    CompareFiles(path, dirA, dirB, name, sa.Size);
                    break;
                case FileKind.Symlink:
                    var ta = LinuxFile.ReadLinkAt(dirA, name);
                    var tb = LinuxFile.ReadLinkAt(dirB, name);
                    if (!ta.AsSpan().SequenceEqual(tb))
                    {
                        Add(path, $"symlink target '{PathBytes.Display(ta)}' != '{PathBytes.Display(tb)}'");
                    }

                    break;
                case FileKind.CharDevice or FileKind.BlockDevice:
                    if (sa.RDevice != sb.RDevice)
                    {
                        Add(path, $"device {DeviceNumber.Major(sa.RDevice)}:{DeviceNumber.Minor(sa.RDevice)} != {DeviceNumber.Major(sb.RDevice)}:{DeviceNumber.Minor(sb.RDevice)}");
                    }

                    break;
            }
        }

        private void CompareFiles(byte[] path, FileDescriptor dirA, FileDescriptor dirB, byte[] name, long size)
        {
            using var a = LinuxFile.OpenAt(dirA, name, OpenFlags.ReadOnly | OpenFlags.NoFollow);
            using var b = LinuxFile.OpenAt(dirB, name, OpenFlags.ReadOnly | OpenFlags.NoFollow);
            for (long offset = 0; offset < size; offset += BlockSize)
            {
                var length = (int)Math.Min(BlockSize, size - offset);
                ReadExactly(a, _blockA.AsSpan(0, length), offset);
                ReadExactly(b, _blockB.AsSpan(0, length), offset);
                var mismatch = _blockA.AsSpan(0, length).CommonPrefixLength(_blockB.AsSpan(0, length));
                if (mismatch < length)
                {
                    Add(path, $"content differs at offset {offset + mismatch}");
                    return;
                }
            }

            if (!holes)
            {
                return;
            }

            var ea = DataExtents(a, size);
            var eb = DataExtents(b, size);
            if (!ea.SequenceEqual(eb))
            {
                Add(path, $"data extents [{string.Join(' ', ea)}] != [{string.Join(' ', eb)}]");
            }
        }

        private void Add(byte[] path, string what)
        {
            if (Differences.Count < MaxDifferences)
            {
                Differences.Add($"{(path.Length == 0 ? "(root)" : PathBytes.Display(path))}: {what}");
            }
        }

        private static void ReadExactly(FileDescriptor fd, Span<byte> buffer, long offset)
        {
            var total = 0;
            while (total < buffer.Length)
            {
                var n = LinuxFile.Read(fd, buffer[total..], offset + total);
                Assert.True(n > 0, "a file got shorter while it was compared");
                total += n;
            }
        }

        private static List<byte[]> SortedNames(FileDescriptor directory)
        {
            var names = LinuxFile.ReadDirectory(directory).Select(e => e.Name).ToList();
            names.Sort(static (x, y) => x.AsSpan().SequenceCompareTo(y));
            return names;
        }

        private static string XattrText(List<KeyValuePair<byte[], byte[]>> xattrs) =>
            string.Join(", ", xattrs.Select(x => $"{PathBytes.Display(x.Key)}={Convert.ToHexString(x.Value)}").Order(StringComparer.Ordinal));

        private static string Octal(uint mode) => Convert.ToString(mode, 8).PadLeft(4, '0');

        private static byte[] Join(byte[] directory, byte[] name) => directory.Length == 0 ? name : [.. directory, (byte)'/', .. name];
    }
}
