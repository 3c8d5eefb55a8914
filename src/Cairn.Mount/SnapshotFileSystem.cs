using Cairn.Native.Linux;
using Cairn.Manifests;
using Cairn.Native.Fuse;

namespace Cairn.Mount;

/// <summary>
/// A snapshot as a read-only FUSE file system. Everything but file data comes from the manifest in memory: inode =
/// entry index + 1 (a hardlink is its target's inode), attributes, listings, symlink targets and xattrs. The tree
/// never changes, so the kernel may cache entries, attributes, listings and pages for as long as it likes.
/// </summary>
internal sealed class SnapshotFileSystem : IFuseFileSystem
{
    private const ulong BlockSize = 4096;
    private readonly Manifest _manifest;
    private readonly ContentReader _reader;
    private readonly HoleMap _holes;
    private readonly double _timeout;
    private readonly uint[] _linkCounts;
    private readonly FuseStatFs _statFs;

    public SnapshotFileSystem(MountContext context, ContentReader reader)
    {
        _manifest = context.Manifest;
        _reader = reader;
        _holes = new HoleMap(_manifest);
        _timeout = context.Options.KernelCacheSeconds;
        (_linkCounts, var totalBytes) = Count(_manifest);
        var blocks = (ulong)(totalBytes + (long)BlockSize - 1) / BlockSize;
        _statFs = new FuseStatFs(BlockSize, BlockSize, blocks, 0, 0, (ulong)_manifest.Count, 0);
    }

    public int Lookup(ulong parent, ReadOnlySpan<byte> name, out FuseEntry entry)
    {
        entry = default;
        if (!TryEntry(parent, out var directory))
        {
            return Errno.ENOENT;
        }

        if (_manifest.Entries[directory].Kind != EntryKind.Directory)
        {
            return Errno.ENOTDIR;
        }

        var child = _manifest.Lookup(directory, name);
        if (child < 0)
        {
            entry = new FuseEntry(default, _timeout, _timeout); // negative entry, cached by the kernel
            return Errno.ENOENT;
        }

        entry = EntryOf(_manifest.Canonical(child));
        return 0;
    }

    public int GetAttr(ulong inode, out FuseAttr attr, out double attrTimeoutSeconds)
    {
        attrTimeoutSeconds = _timeout;
        if (!TryEntry(inode, out var entry))
        {
            attr = default;
            return Errno.ENOENT;
        }

        attr = AttrOf(entry);
        return 0;
    }

    public int ReadLink(ulong inode, out ReadOnlySpan<byte> target)
    {
        target = default;
        if (!TryEntry(inode, out var entry) || _manifest.Entries[entry].Kind != EntryKind.Symlink)
        {
            return Errno.EINVAL;
        }

        target = _manifest.SymlinkTarget(entry);
        return 0;
    }

    /// <summary>
    /// Zero-message opens: reads need no per-open state, so the first open answers ENOSYS and the kernel stops
    /// sending OPEN and RELEASE (two round trips per file saved), keeping the page cache across opens.
    /// </summary>
    public int Open(ulong inode, out ulong handle, out bool keepCache)
    {
        handle = 0;
        keepCache = true;
        return Errno.ENOSYS;
    }

    /// <summary>Zero-message directory opens, as for files; listings stay cached.</summary>
    public int OpenDir(ulong inode, out ulong handle, out bool cacheEntries)
    {
        handle = 0;
        cacheEntries = true;
        return Errno.ENOSYS;
    }

    public int ReadDirectory(ulong inode, ulong handle, long offset, ref FuseDirectoryWriter writer)
    {
        if (!TryEntry(inode, out var directory) || _manifest.Entries[directory].Kind != EntryKind.Directory)
        {
            return Errno.ENOTDIR;
        }

        // Cookies: 1 after ".", 2 after "..", 2 + k after the k-th child.
        ref readonly var d = ref _manifest.Entries[directory];
        var count = 2 + (long)d.Count;
        for (var position = Math.Max(0, offset); position < count; position++)
        {
            bool added;
            if (position < 2)
            {
                var self = position == 0 ? directory : _manifest.ParentOf(directory);
                added = writer.TryAdd(position == 0 ? "."u8 : ".."u8, EntryOf(self), position + 1);
            }
            else
            {
                var child = (int)(d.First + position - 2);
                added = writer.TryAdd(_manifest.NameOf(child), EntryOf(_manifest.Canonical(child)), position + 1);
            }

            if (!added)
            {
                break;
            }
        }

        return 0;
    }

    public void Read(ulong inode, ulong handle, long offset, int size, FuseReadReply reply)
    {
        if (!TryEntry(inode, out var entry) || _manifest.Entries[entry].Kind != EntryKind.Regular)
        {
            reply.Error(Errno.EINVAL);
            return;
        }

        _reader.Read(entry, offset, size, reply);
    }

    /// <summary>SEEK_DATA and SEEK_HOLE from the chunk references: a copy that skips holes gets them without a fetch.</summary>
    public int Seek(ulong inode, ulong handle, long offset, FuseSeekWhence whence, out long position)
    {
        if (!TryEntry(inode, out var entry) || _manifest.Entries[entry].Kind != EntryKind.Regular)
        {
            position = 0;
            return Errno.EINVAL;
        }

        return _holes.Seek(entry, offset, whence, out position);
    }

    public int GetXattr(ulong inode, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!TryEntry(inode, out var entry))
        {
            return Errno.ENOENT;
        }

        foreach (var x in _manifest.XattrsOf(entry))
        {
            if (_manifest.StringAt(x.NameOffset, x.NameLength).SequenceEqual(name))
            {
                value = _manifest.StringAt(x.ValueOffset, x.ValueLength);
                return 0;
            }
        }

        return Errno.ENODATA;
    }

    public int ListXattr(ulong inode, out ReadOnlySpan<byte> namesNulSeparated)
    {
        namesNulSeparated = default;
        if (!TryEntry(inode, out var entry))
        {
            return Errno.ENOENT;
        }

        var xattrs = _manifest.XattrsOf(entry);
        if (xattrs.IsEmpty)
        {
            return 0;
        }

        var length = 0;
        foreach (var x in xattrs)
        {
            length += (int)x.NameLength + 1;
        }

        var names = new byte[length];
        var at = 0;
        foreach (var x in xattrs)
        {
            _manifest.StringAt(x.NameOffset, x.NameLength).CopyTo(names.AsSpan(at));
            at += (int)x.NameLength + 1;
        }

        namesNulSeparated = names;
        return 0;
    }

    public int StatFs(out FuseStatFs stats)
    {
        stats = _statFs;
        return 0;
    }

    /// <summary>Link counts (files: names of the inode; directories: 2 + subdirectories) and the bytes the tree holds.</summary>
    private static (uint[] LinkCounts, long Bytes) Count(Manifest m)
    {
        var links = new uint[m.Count];
        long bytes = 0;
        for (var i = 0; i < m.Count; i++)
        {
            ref readonly var e = ref m.Entries[i];
            switch (e.Kind)
            {
                case EntryKind.Directory:
                    links[i] += 2;
                    for (var c = e.First; c < e.First + e.Count; c++)
                    {
                        if (m.Entries[c].Kind == EntryKind.Directory)
                        {
                            links[i]++;
                        }
                    }

                    break;
                case EntryKind.Hardlink:
                    links[e.First]++;
                    break;
                default:
                    links[i]++;
                    bytes += e.Kind == EntryKind.Regular ? e.Size : 0;
                    break;
            }
        }

        return (links, bytes);
    }

    private bool TryEntry(ulong inode, out int entry)
    {
        entry = (int)(inode - 1);
        return inode >= 1 && inode <= (ulong)_manifest.Count && _manifest.Entries[entry].Kind != EntryKind.Hardlink;
    }

    private FuseEntry EntryOf(int entry) => new(AttrOf(entry), _timeout, _timeout);

    private FuseAttr AttrOf(int entry)
    {
        ref readonly var e = ref _manifest.Entries[entry];
        var type = e.Kind switch
        {
            EntryKind.Directory => FuseMode.Directory,
            EntryKind.Symlink => FuseMode.SymbolicLink,
            EntryKind.Fifo => FuseMode.Fifo,
            EntryKind.CharDevice => FuseMode.CharacterDevice,
            EntryKind.BlockDevice => FuseMode.BlockDevice,
            _ => FuseMode.RegularFile,
        };
        long size = e.Kind switch
        {
            EntryKind.Regular or EntryKind.Symlink => e.Size,
            EntryKind.Directory => (long)BlockSize,
            _ => 0,
        };
        var rdev = e.Kind is EntryKind.CharDevice or EntryKind.BlockDevice ? e.DeviceNumber : 0;
        return new FuseAttr((ulong)entry + 1, type | e.Mode, _linkCounts[entry], e.Uid, e.Gid, size, AllocatedBytes(entry, size) / 512, e.MTimeNs, e.MTimeNs, e.MTimeNs, rdev);
    }

    /// <summary>Bytes a file occupies: its size, less the holes of a sparse file (rounded up to 512-byte blocks).</summary>
    private long AllocatedBytes(int entry, long size)
    {
        ref readonly var e = ref _manifest.Entries[entry];
        if (e.Kind != EntryKind.Regular || (e.Traits & EntryTraits.Sparse) == 0)
        {
            return size + 511;
        }

        long data = 0;
        foreach (var r in _manifest.ChunkRefsOf(entry))
        {
            data += _manifest.Chunks[r.Chunk].Length;
        }

        return data + 511;
    }
}
