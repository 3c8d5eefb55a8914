using System.Collections.Concurrent;
using Cairn.Manifests;
using Cairn.Native.Linux;
using Cairn.Threading;

namespace Cairn.Snapshot;

/// <summary>
/// One child of a directory, with everything the manifest needs about it except file contents. Regular files' xattrs
/// (null here) are read later from the descriptor the content is read through, or taken from the parent snapshot when
/// the file is unchanged (changing an xattr changes the ctime): reading them by path for every file cost a /proc path
/// walk per entry.
/// </summary>
internal sealed record ChildInfo(byte[] Name, StatxInfo Stat, byte[]? LinkTarget, List<KeyValuePair<byte[], byte[]>>? Xattrs, DirectoryHandle? Subdirectory);

/// <summary>
/// Lists directories for the archiver: getdents64, then statx, readlink, xattrs and opening subdirectories, all
/// relative to directory descriptors and on raw byte names. Several directories are listed at once: on a cold cache
/// the walk is bound by metadata reads, and a deep queue is what makes a disk (or a network block device) fast.
/// </summary>
internal sealed class TreeWalker : IDisposable
{
    private readonly SemaphoreSlim _gate;
    private readonly BlockingIoScheduler _io;
    private readonly bool _skipUnreadable;
    private readonly ConcurrentQueue<string> _skipped;

    public TreeWalker(int concurrency, BlockingIoScheduler io, bool skipUnreadable, ConcurrentQueue<string> skipped)
    {
        _gate = new SemaphoreSlim(concurrency);
        _io = io;
        _skipUnreadable = skipUnreadable;
        _skipped = skipped;
    }

    /// <summary>Starts listing a directory in the background. Children come sorted by name (byte-wise).</summary>
    public async Task<List<ChildInfo>> ListAsync(DirectoryHandle directory, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _io.Run(() => List(directory), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private List<ChildInfo> List(DirectoryHandle directory)
    {
        List<DirectoryEntry> entries;
        try
        {
            entries = LinuxFile.ReadDirectory(directory.Descriptor);
        }
        catch (LinuxIOException e)
        {
            Unreadable(directory.Path, e);
            return [];
        }

        entries.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        var children = new List<ChildInfo>(entries.Count);
        foreach (var entry in entries)
        {
            var name = entry.Name;
            if (!ManifestValidator.IsValidName(name))
            {
                continue;
            }

            var errno = LinuxFile.TryStat(directory.Descriptor, name, out var stat);
            if (errno == Errno.ENOENT)
            {
                continue; // deleted since the listing: it is simply not in the snapshot
            }

            if (errno != 0)
            {
                Unreadable(directory.PathOf(name), new LinuxIOException(errno, "statx", name));
                continue;
            }

            try
            {
                byte[]? target = stat.Kind == FileKind.Symlink ? LinuxFile.ReadLinkAt(directory.Descriptor, name) : null;
                DirectoryHandle? subdirectory = null;
                List<KeyValuePair<byte[], byte[]>>? xattrs = null;
                if (stat.Kind == FileKind.Directory)
                {
                    var fd = LinuxFile.OpenAt(directory.Descriptor, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
                    subdirectory = new DirectoryHandle(fd, directory.PathOf(name));
                    xattrs = LinuxFile.ReadXattrs(fd);
                }
                else if (stat.Kind != FileKind.Regular)
                {
                    xattrs = LinuxFile.ReadXattrs(directory.Descriptor, name);
                }

                children.Add(new ChildInfo(name, stat, target, xattrs, subdirectory));
            }
            catch (LinuxIOException e) when (e.Errno != Errno.ENOENT)
            {
                Unreadable(directory.PathOf(name), e);
            }
            catch (LinuxIOException)
            {
                // Vanished between statx and open: not in the snapshot.
            }
        }

        return children;
    }

    public void Dispose() => _gate.Dispose();

    private void Unreadable(byte[] path, LinuxIOException e)
    {
        var display = Manifest.Display(path);
        if (!_skipUnreadable)
        {
            throw new CairnException($"cannot read '{display}': {e.Message} (use --skip-unreadable to continue without it)", e);
        }

        _skipped.Enqueue($"{display}: {e.Message}");
    }
}
