using System.Text;
using Cairn.Native.Linux;

namespace Cairn.Tests.Support;

/// <summary>What <see cref="TreeGenerator"/> puts in a tree.</summary>
internal sealed record TreeShape
{
    /// <summary>Directories besides the deep chain, each under a random earlier one (so they nest).</summary>
    public int Directories { get; init; } = 6;

    /// <summary>Small files with random names, sizes and kinds of content in every directory.</summary>
    public int FilesPerDirectory { get; init; } = 3;

    /// <summary>Levels of the deep chain of nested directories (0: none).</summary>
    public int Depth { get; init; } = 60;

    /// <summary>One file of each size around the default chunker's bounds (0, 1, 16 KiB ± 1, 64 KiB, 256 KiB ± 1).</summary>
    public bool BoundarySizes { get; init; } = true;

    /// <summary>Size of one file above the archiver's whole-file limit, so it is streamed (0: none).</summary>
    public int LargeFileBytes { get; init; } = (2 << 20) + 12345;

    /// <summary>Extra incompressible data, spread over files of 1–512 KiB.</summary>
    public long BulkBytes { get; init; }

    /// <summary>
    /// Everything else a tree can hold: sparse files, hardlinks, symlinks (relative, absolute, dangling, outside,
    /// long), a FIFO, devices, xattrs, odd modes and owners, mtimes with ns and before 1970.
    /// </summary>
    public bool Specials { get; init; } = true;

    public static TreeShape Varied { get; } = new();

    /// <summary>Mostly incompressible data in plain files: for tests that need volume, not variety.</summary>
    public static TreeShape Bulk(long bytes) => new()
    {
        Directories = 4,
        FilesPerDirectory = 2,
        Depth = 3,
        BoundarySizes = false,
        LargeFileBytes = 0,
        BulkBytes = bytes,
        Specials = false,
    };
}

/// <summary>
/// Builds a random but reproducible tree (seeded <see cref="Random"/>) of everything the archiver must carry: names
/// that are not UTF-8 or hold newlines, spaces or 255 bytes; deep nesting; hardlinks within and across directories;
/// symlinks of every sort; sparse files with holes at start, middle and end; xattrs; files around the chunker's
/// bounds; a FIFO and device nodes (the tests run as root); odd modes (0000, 04755, 01777), owners and mtimes.
/// </summary>
internal sealed class TreeGenerator : IDisposable
{
    private static readonly uint[] s_fileModes = [0b110_100_100, 0b110_000_000, 0, 0x800 | 0b111_101_101, 0x400 | 0b111_101_101, 0b111_111_111, 0b100_100_100, 0xC00 | 0b111_001_001];
    private static readonly uint[] s_directoryModes = [0b111_101_101, 0b111_000_000, 0x200 | 0b111_111_111, 0x400 | 0b111_101_101, 0, 0b101_101_101];
    private static readonly uint[] s_nodeModes = [0b110_110_110, 0b110_100_000, 0x800 | 0b110_100_100];
    private static readonly (uint Uid, uint Gid)[] s_owners = [(0, 0), (12345, 54321), (65534, 65534), (1000, 0), (2_000_000_000, 7)];

    private readonly Random _random;
    private readonly TreeShape _shape;
    private readonly List<Dir> _directories = [];
    private readonly List<Node> _nodes = [];
    private long _totalBytes;

    private TreeGenerator(int seed, TreeShape shape)
    {
        _random = new Random(seed);
        _shape = shape;
    }

    /// <summary>Fills the existing empty directory <paramref name="root"/>; returns the bytes of file data written.</summary>
    public static long Generate(string root, int seed, TreeShape shape)
    {
        using var generator = new TreeGenerator(seed, shape);
        generator._directories.Add(new Dir(LinuxFile.OpenDirectory(root)));
        generator.Build();
        return generator._totalBytes;
    }

    public void Dispose()
    {
        foreach (var d in _directories)
        {
            d.Fd.Dispose();
        }
    }

    private void Build()
    {
        for (var i = 0; i < _shape.Directories; i++)
        {
            AddDirectory(Pick(_directories));
        }

        var parent = Pick(_directories);
        var shallow = _directories.Count;
        for (var i = 0; i < _shape.Depth; i++)
        {
            parent = AddDirectory(parent, i == _shape.Depth / 2 ? LongName() : ShortName());
        }

        if (_shape.Depth > 0)
        {
            AddFile(parent, "bottom of the deep chain\n"u8.ToArray());
        }

        foreach (var d in _directories.Take(shallow))
        {
            for (var i = 0; i < _shape.FilesPerDirectory; i++)
            {
                AddFile(d, Content(_random.Next(0, 20_000)));
            }
        }

        if (_shape.BoundarySizes)
        {
            foreach (var size in new[] { 0, 1, (16 << 10) - 1, 16 << 10, (16 << 10) + 1, 64 << 10, (256 << 10) - 1, 256 << 10, (256 << 10) + 1 })
            {
                AddFile(Pick(_directories), Content(size));
            }
        }

        if (_shape.LargeFileBytes > 0)
        {
            AddFile(Pick(_directories), Content(_shape.LargeFileBytes));
        }

        for (long bulk = 0; bulk < _shape.BulkBytes;)
        {
            var size = (int)Math.Min(_random.Next(1 << 10, 512 << 10), _shape.BulkBytes - bulk);
            AddFile(Pick(_directories), RandomBytes(size));
            bulk += size;
        }

        if (_shape.Specials)
        {
            AddSparseFiles();
            AddSymlinks();
            AddNodes();
            AddHardlinks();
        }

        ApplyMetadata();
    }

    private Dir AddDirectory(Dir parent, byte[]? name = null)
    {
        name ??= NewName(parent);
        parent.Names.Add(Convert.ToHexString(name));
        LinuxFile.MakeDirectoryAt(parent.Fd, name, 0b111_101_101);
        var fd = LinuxFile.OpenAt(parent.Fd, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
        var directory = new Dir(fd);
        _directories.Add(directory);
        return directory;
    }

    private void AddFile(Dir parent, byte[] content)
    {
        var name = NewName(parent);
        using (var fd = LinuxFile.OpenAt(parent.Fd, name, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, 0b110_100_100))
        {
            LinuxFile.WriteAll(fd, content, 0);
        }

        _totalBytes += content.Length;
        _nodes.Add(new Node(parent, name, FileKind.Regular));
    }

    private void AddSparseFiles()
    {
        const int KiB = 1024;
        (long Offset, int Length)[][] layouts =
        [
            [(128 * KiB, 72 * KiB)],                      // hole at the start
            [(0, 64 * KiB), (512 * KiB, 88 * KiB)],       // hole in the middle
            [(0, 40_000)],                                // hole at the end (size set below)
            [],                                           // nothing but a hole
            [(1 << 20, 100 * KiB), ((5 << 19) + 3, 10)],  // above the whole-file limit: streamed, unaligned tail
        ];
        long[] sizes = [200 * KiB, 600 * KiB, 1 << 20, 300 * KiB, 3 << 20];
        for (var i = 0; i < layouts.Length; i++)
        {
            var parent = Pick(_directories);
            var name = NewName(parent);
            using (var fd = LinuxFile.OpenAt(parent.Fd, name, OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, 0b110_100_100))
            {
                LinuxFile.Truncate(fd, sizes[i]);
                foreach (var (offset, length) in layouts[i])
                {
                    LinuxFile.WriteAll(fd, RandomBytes(length), offset);
                    _totalBytes += length;
                }
            }

            _nodes.Add(new Node(parent, name, FileKind.Regular));
        }
    }

    private void AddSymlinks()
    {
        var sibling = _nodes[_random.Next(_nodes.Count)];
        byte[][] targets =
        [
            [.. "../"u8, .. sibling.Name],
            "/etc/passwd"u8.ToArray(),
            "no/such/target"u8.ToArray(),
            [.. Enumerable.Repeat("../"u8.ToArray(), 20).SelectMany(b => b), .. "outside"u8],
            [.. Enumerable.Repeat((byte)'x', 1000)],
            [0xff, 0xfe, (byte)'/', 0x80, (byte)'\n'],
            "."u8.ToArray(),
        ];
        foreach (var target in targets)
        {
            var parent = Pick(_directories);
            var name = NewName(parent);
            LinuxFile.SymlinkAt(target, parent.Fd, name);
            _nodes.Add(new Node(parent, name, FileKind.Symlink));
        }
    }

    private void AddNodes()
    {
        (uint Type, ulong Device, FileKind Kind)[] nodes =
        [
            (0x1000, 0, FileKind.Fifo),
            (0x2000, DeviceNumber.Make(1, 3), FileKind.CharDevice),
            (0x2000, DeviceNumber.Make(511, 1_048_575), FileKind.CharDevice),
            (0x6000, DeviceNumber.Make(7, 0), FileKind.BlockDevice),
        ];
        foreach (var (type, device, kind) in nodes)
        {
            var parent = Pick(_directories);
            var name = NewName(parent);
            LinuxFile.MakeNodeAt(parent.Fd, name, type | 0b110_100_100, device);
            _nodes.Add(new Node(parent, name, kind));
        }
    }

    private void AddHardlinks()
    {
        var files = _nodes.Where(n => n.Kind == FileKind.Regular).ToList();
        for (var i = 0; i < 4; i++)
        {
            var source = files[_random.Next(files.Count)];
            for (var links = _random.Next(1, 3); links > 0; links--)
            {
                // One link in the file's own directory, the others anywhere.
                var parent = links == 1 ? source.Parent : Pick(_directories);
                LinuxFile.LinkAt(source.Parent.Fd, source.Name, parent.Fd, NewName(parent));
            }
        }
    }

    /// <summary>Owners, modes, xattrs and times: nodes first, then directories deepest first (creating entries changes a directory's mtime).</summary>
    private void ApplyMetadata()
    {
        foreach (var node in _nodes)
        {
            var (uid, gid) = _shape.Specials ? Pick(s_owners) : (0u, 0u);
            LinuxFile.ChangeOwnerAt(node.Parent.Fd, node.Name, uid, gid);
            switch (node.Kind)
            {
                case FileKind.Regular:
                    LinuxFile.ChangeModeAt(node.Parent.Fd, node.Name, _shape.Specials ? Pick(s_fileModes) : 0b110_100_100);
                    AddXattrs(node.Parent.Fd, node.Name, "user.");
                    break;
                case FileKind.Symlink:
                    AddXattrs(node.Parent.Fd, node.Name, "trusted.");
                    break;
                default:
                    LinuxFile.ChangeModeAt(node.Parent.Fd, node.Name, Pick(s_nodeModes));
                    AddXattrs(node.Parent.Fd, node.Name, "trusted.");
                    break;
            }

            LinuxFile.SetTimesAt(node.Parent.Fd, node.Name, MTime(), MTime());
        }

        for (var i = _directories.Count - 1; i >= 0; i--)
        {
            var fd = _directories[i].Fd;
            if (i > 0)
            {
                var (uid, gid) = _shape.Specials ? Pick(s_owners) : (0u, 0u);
                LinuxFile.ChangeOwner(fd, uid, gid);
                LinuxFile.ChangeMode(fd, _shape.Specials ? Pick(s_directoryModes) : 0b111_101_101);
            }

            AddXattrs(fd, [], "user.");
            LinuxFile.SetTimes(fd, MTime(), MTime());
        }
    }

    private void AddXattrs(FileDescriptor directoryOrFile, byte[] name, string prefix)
    {
        if (!_shape.Specials || _random.Next(3) != 0)
        {
            return;
        }

        for (var count = _random.Next(1, 4); count > 0; count--)
        {
            var key = Encoding.ASCII.GetBytes($"{prefix}cairn.{_random.Next(1000)}");
            var value = RandomBytes(_random.Next(0, 200));
            if (name.Length == 0)
            {
                LinuxFile.SetXattr(directoryOrFile, key, value);
            }
            else
            {
                LinuxFile.SetXattrAt(directoryOrFile, name, key, value);
            }
        }
    }

    /// <summary>An mtime in ns: mostly random between 1906 and 2223 with a ns part; some exactly on a second, some just before 1970.</summary>
    private long MTime() => _random.Next(8) switch
    {
        0 => -1,
        1 => _random.NextInt64(-2_000_000_000, 0) * 1_000_000_000,
        _ => (_random.NextInt64(-2_000_000_000, 8_000_000_000) * 1_000_000_000) + _random.Next(1_000_000_000),
    };

    private byte[] NewName(Dir parent)
    {
        while (true)
        {
            var name = _random.Next(10) switch
            {
                0 => Encoding.UTF8.GetBytes($"with space\nand newline {_random.Next(100)}"),
                1 => [.. RandomBytes(_random.Next(1, 9)).Select(b => (byte)(b | 0x80))], // not UTF-8
                2 => Encoding.UTF8.GetBytes($"ümlaut ✓ 名前 {_random.Next(100)}"),
                3 => LongName(),
                4 => [.. RandomBytes(_random.Next(1, 30)).Select(b => b is 0 or (byte)'/' ? (byte)'_' : b)], // any byte
                _ => ShortName(),
            };
            if (PathBytes.IsValidName(name) && parent.Names.Add(Convert.ToHexString(name)))
            {
                return name;
            }
        }
    }

    private byte[] ShortName()
    {
        while (true)
        {
            byte[] name = [.. Enumerable.Range(0, _random.Next(1, 13)).Select(_ => (byte)"abcdefghijklmnopqrstuvwxyz0123456789._-"[_random.Next(39)])];
            if (PathBytes.IsValidName(name))
            {
                return name;
            }
        }
    }

    private byte[] LongName() => [.. Enumerable.Range(0, 255).Select(_ => (byte)_random.Next(0x21, 0x7f)).Select(b => b == '/' ? (byte)'+' : b)];

    /// <summary>File content of one of four sorts: incompressible, text-like, zeros (written, not holes), or half and half.</summary>
    private byte[] Content(int size) => _random.Next(4) switch
    {
        0 => RandomBytes(size),
        1 => Text(size),
        2 => new byte[size],
        _ => [.. RandomBytes(size / 2), .. Text(size - (size / 2))],
    };

    private byte[] Text(int size)
    {
        var words = new[] { "cairn ", "stone ", "snapshot ", "chunk\n", "pack ", "frame\t", "tree " };
        var text = new StringBuilder(size + 16);
        while (text.Length < size)
        {
            text.Append(words[_random.Next(words.Length)]).Append(_random.Next(100));
        }

        return Encoding.ASCII.GetBytes(text.ToString(0, size));
    }

    private byte[] RandomBytes(int size)
    {
        var bytes = new byte[size];
        _random.NextBytes(bytes);
        return bytes;
    }

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    private sealed record Dir(FileDescriptor Fd)
    {
        public HashSet<string> Names { get; } = [];
    }

    private sealed record Node(Dir Parent, byte[] Name, FileKind Kind);
}
