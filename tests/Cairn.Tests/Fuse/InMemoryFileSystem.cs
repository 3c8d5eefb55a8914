using Cairn.Native.Linux;
using System.Text;
using Cairn.Native.Fuse;

namespace Cairn.Tests.Fuse;

/// <summary>A small immutable tree served through <see cref="IFuseFileSystem"/>; built before mounting, read-only afterwards.</summary>
internal sealed class InMemoryFileSystem : IFuseFileSystem
{
    public const ulong RootInode = 1;
    public const uint DefaultUid = 1234;
    public const uint DefaultGid = 5678;
    public const double Timeout = 60;

    /// <summary>2021-05-06T07:08:09.123456789Z in nanoseconds since the epoch.</summary>
    public static readonly long MTimeNs = new DateTimeOffset(2021, 5, 6, 7, 8, 9, TimeSpan.Zero).ToUnixTimeSeconds() * 1_000_000_000 + 123_456_789;

    private readonly Dictionary<ulong, Node> _nodes = [];
    private ulong _nextInode = 2;
    private int _plusListings;
    private int _plainListings;

    public InMemoryFileSystem()
    {
        _nodes[RootInode] = new Node(RootInode, FuseMode.Directory | 0x1ED /* 0755 */, RootInode) { Children = [] };
    }

    public delegate void ReadHandler(long offset, int size, FuseReadReply reply);

    public int PlusListings => Volatile.Read(ref _plusListings);

    public int PlainListings => Volatile.Read(ref _plainListings);

    public ulong AddDirectory(ulong parent, string name) => AddDirectory(parent, Encoding.UTF8.GetBytes(name));

    public ulong AddDirectory(ulong parent, byte[] name)
    {
        var node = new Node(_nextInode++, FuseMode.Directory | 0x1ED, parent) { Children = [] };
        return Link(parent, name, node);
    }

    public ulong AddFile(ulong parent, string name, byte[] data, ReadHandler? read = null) => AddFile(parent, Encoding.UTF8.GetBytes(name), data, read);

    public ulong AddFile(ulong parent, byte[] name, byte[] data, ReadHandler? read = null)
    {
        var node = new Node(_nextInode++, FuseMode.RegularFile | 0x1A4 /* 0644 */, parent) { Data = data, Read = read };
        return Link(parent, name, node);
    }

    public ulong AddSymlink(ulong parent, string name, string target)
    {
        var node = new Node(_nextInode++, FuseMode.SymbolicLink | 0x1FF /* 0777 */, parent) { Target = Encoding.UTF8.GetBytes(target) };
        return Link(parent, Encoding.UTF8.GetBytes(name), node);
    }

    public void AddHardLink(ulong parent, string name, ulong inode)
    {
        Node node = _nodes[inode];
        node.LinkCount++;
        _nodes[parent].Children!.Add((Encoding.UTF8.GetBytes(name), inode));
    }

    public void SetXattr(ulong inode, string name, byte[] value) => _nodes[inode].Xattrs[name] = value;

    public int Lookup(ulong parent, ReadOnlySpan<byte> name, out FuseEntry entry)
    {
        entry = default;
        if (!_nodes.TryGetValue(parent, out Node? directory) || directory.Children is null)
        {
            return Errno.ENOTDIR;
        }

        foreach ((byte[] childName, ulong inode) in directory.Children)
        {
            if (name.SequenceEqual(childName))
            {
                entry = EntryOf(_nodes[inode]);
                return 0;
            }
        }

        return Errno.ENOENT;
    }

    public int GetAttr(ulong inode, out FuseAttr attr, out double attrTimeoutSeconds)
    {
        attrTimeoutSeconds = Timeout;
        if (!_nodes.TryGetValue(inode, out Node? node))
        {
            attr = default;
            return Errno.ENOENT;
        }

        attr = AttrOf(node);
        return 0;
    }

    public int ReadLink(ulong inode, out ReadOnlySpan<byte> target)
    {
        target = default;
        if (!_nodes.TryGetValue(inode, out Node? node) || node.Target is null)
        {
            return Errno.EINVAL;
        }

        target = node.Target;
        return 0;
    }

    public int Open(ulong inode, out ulong handle, out bool keepCache)
    {
        handle = inode * 10;
        keepCache = true;
        return _nodes.TryGetValue(inode, out Node? node) && node.Data is not null ? 0 : Errno.EISDIR;
    }

    public int OpenDir(ulong inode, out ulong handle, out bool cacheEntries)
    {
        handle = inode * 100;
        cacheEntries = true;
        return _nodes.TryGetValue(inode, out Node? node) && node.Children is not null ? 0 : Errno.ENOTDIR;
    }

    public int ReadDirectory(ulong inode, ulong handle, long offset, ref FuseDirectoryWriter writer)
    {
        if (handle != inode * 100 || !_nodes.TryGetValue(inode, out Node? directory) || directory.Children is null)
        {
            return Errno.EBADF;
        }

        Interlocked.Increment(ref writer.IsPlus ? ref _plusListings : ref _plainListings);
        var entries = new List<(byte[] Name, ulong Inode)> { ("."u8.ToArray(), inode), (".."u8.ToArray(), directory.Parent) };
        entries.AddRange(directory.Children);
        for (int i = (int)offset; i < entries.Count; i++)
        {
            if (!writer.TryAdd(entries[i].Name, EntryOf(_nodes[entries[i].Inode]), i + 1))
            {
                break;
            }
        }

        return 0;
    }

    public void Read(ulong inode, ulong handle, long offset, int size, FuseReadReply reply)
    {
        Node node = _nodes[inode];
        if (handle != inode * 10 || node.Data is null)
        {
            reply.Error(Errno.EBADF);
            return;
        }

        if (node.Read is { } custom)
        {
            custom(offset, size, reply);
            return;
        }

        reply.Data(Slice(node.Data, offset, size));
    }

    public static ReadOnlySpan<byte> Slice(byte[] data, long offset, int size)
        => offset >= data.Length ? [] : data.AsSpan((int)offset, (int)Math.Min(size, data.Length - offset));

    public int GetXattr(ulong inode, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (_nodes.TryGetValue(inode, out Node? node) && node.Xattrs.TryGetValue(Encoding.UTF8.GetString(name), out byte[]? bytes))
        {
            value = bytes;
            return 0;
        }

        return Errno.ENODATA;
    }

    public int ListXattr(ulong inode, out ReadOnlySpan<byte> namesNulSeparated)
    {
        Node node = _nodes[inode];
        namesNulSeparated = Encoding.UTF8.GetBytes(string.Concat(node.Xattrs.Keys.Select(k => k + "\0")));
        return 0;
    }

    public int StatFs(out FuseStatFs stats)
    {
        stats = new FuseStatFs(BlockSize: 4096, FragmentSize: 4096, Blocks: 1000, BlocksFree: 0, BlocksAvailable: 0, Files: (ulong)_nodes.Count, FilesFree: 0);
        return 0;
    }

    private ulong Link(ulong parent, byte[] name, Node node)
    {
        _nodes[node.Inode] = node;
        _nodes[parent].Children!.Add((name, node.Inode));
        return node.Inode;
    }

    private static FuseEntry EntryOf(Node node) => new(AttrOf(node), Timeout, Timeout);

    private static FuseAttr AttrOf(Node node)
    {
        long size = node.Data?.LongLength ?? node.Target?.LongLength ?? 4096;
        return new FuseAttr(node.Inode, node.Mode, node.LinkCount, DefaultUid, DefaultGid, size, (size + 511) / 512, MTimeNs, MTimeNs, MTimeNs, 0);
    }

    private sealed class Node(ulong inode, uint mode, ulong parent)
    {
        public ulong Inode { get; } = inode;

        public uint Mode { get; } = mode;

        public ulong Parent { get; } = parent;

        public uint LinkCount { get; set; } = 1;

        public byte[]? Data { get; init; }

        public byte[]? Target { get; init; }

        public ReadHandler? Read { get; init; }

        public List<(byte[] Name, ulong Inode)>? Children { get; init; }

        public Dictionary<string, byte[]> Xattrs { get; } = [];
    }
}
