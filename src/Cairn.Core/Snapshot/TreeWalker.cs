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
/// <remarks>
/// <para>The listers run ahead of the walk in its own order. The archiver walks depth-first, in name order, and asks
/// for a directory's listing when it reaches it. Once a lister has listed a directory, it also queues the listings of
/// its subdirectories, at most <see cref="AheadLimit"/> of them not yet asked for. Listings are taken last in, first
/// out, and a directory's subdirectories are queued last name first, so the next listing taken is the first
/// subdirectory of the directory just listed: the listers go depth-first, as the walk does.</para>
/// <para>Why run ahead: a lister that only lists what the walk has reached is idle while the walk appends entries,
/// and the walk then waits for each directory's metadata to come off the disk. The breadth-first walk this replaced
/// always had a whole level of directories to list. An incremental snapshot of <c>ws</c> (page cache dropped),
/// where the walk is most of the work, took 0.92 s that way against 0.83 s running ahead (medians of 6,
/// interleaved). The breadth-first walk is still a little faster at it (0.82 against 0.90 s in another such A/B),
/// but packs files in an order no tree walk reads them in (docs/benchmarks.md).</para>
/// </remarks>
internal sealed class TreeWalker
{
    /// <summary>
    /// Most listings done or under way ahead of the walk, not asked for yet: bounds the memory and the descriptors
    /// (each listing holds its subdirectories open) that running ahead takes.
    /// </summary>
    internal const int AheadLimit = 1024;

    private readonly Lock _lock = new();
    private readonly Stack<(DirectoryHandle Directory, TaskCompletionSource<List<ChildInfo>> Result)> _waiting = new();
    private readonly int _concurrency;
    private readonly BlockingIoScheduler _io;
    private readonly bool _skipUnreadable;
    private readonly ConcurrentQueue<string> _skipped;
    private readonly ConcurrentQueue<string> _warnings;
    private readonly CancellationToken _cancellationToken;
    private int _listers;
    private int _ahead;

    public TreeWalker(int concurrency, BlockingIoScheduler io, bool skipUnreadable, ConcurrentQueue<string> skipped, ConcurrentQueue<string> warnings, CancellationToken cancellationToken)
    {
        _concurrency = concurrency;
        _io = io;
        _skipUnreadable = skipUnreadable;
        _skipped = skipped;
        _warnings = warnings;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Test seam: called with a directory's path (not the root's) just before it is listed, on the lister's thread.</summary>
    internal Action<byte[]>? BeforeList { get; init; }

    /// <summary>
    /// The listing of <paramref name="directory"/>: already done or under way if a lister ran ahead to it or it was
    /// asked for before (the same task again), else queued before every listing asked for earlier (last in, first
    /// out). Children come sorted by name (byte-wise). A directory that could not be listed comes back empty and
    /// <see cref="DirectoryHandle.LeftOut"/>.
    /// </summary>
    public Task<List<ChildInfo>> ListAsync(DirectoryHandle directory)
    {
        Task<List<ChildInfo>> listing;
        bool startLister;
        lock (_lock)
        {
            if (directory.Listing is { } started)
            {
                if (directory.Ahead)
                {
                    directory.Ahead = false;
                    _ahead--;
                }

                return started;
            }

            listing = Queue(directory, out startLister);
        }

        if (startLister)
        {
            StartLister();
        }

        return listing;
    }

    /// <summary>Queues a listing; under the lock. <paramref name="startLister"/>: the caller must start one more lister.</summary>
    private Task<List<ChildInfo>> Queue(DirectoryHandle directory, out bool startLister)
    {
        var result = new TaskCompletionSource<List<ChildInfo>>(TaskCreationOptions.RunContinuationsAsynchronously);
        directory.Listing = result.Task;
        _waiting.Push((directory, result));
        startLister = _listers < _concurrency;
        if (startLister)
        {
            _listers++;
        }

        return result.Task;
    }

    // Not cancellable once started: a lister takes turns until the stack is empty, so no listing is left unanswered.
    private void StartLister() => _ = _io.Run(ListNext, CancellationToken.None);

    /// <summary>
    /// One turn of a lister (at most <c>concurrency</c> of them): lists the directory on top of the stack, then queues
    /// its next turn, so the file reads waiting for the same threads get theirs in between. A lister ends when it
    /// finds the stack empty.
    /// </summary>
    /// <returns>False if the stack was empty and the lister ended.</returns>
    private bool ListNext()
    {
        (DirectoryHandle Directory, TaskCompletionSource<List<ChildInfo>> Result) next;
        lock (_lock)
        {
            if (!_waiting.TryPop(out next))
            {
                _listers--;
                return false;
            }
        }

        if (_cancellationToken.IsCancellationRequested)
        {
            next.Result.TrySetCanceled(_cancellationToken);
        }
        else
        {
            try
            {
                var children = List(next.Directory);
                QueueAhead(children);
                next.Result.TrySetResult(children);
            }
#pragma warning disable CA1031 // Handed to the walk, which awaits the listing.
            catch (Exception e)
#pragma warning restore CA1031
            {
                next.Result.TrySetException(e);
            }
        }

        StartLister();
        return true;
    }

    /// <summary>
    /// Queues the listings of the first subdirectories among <paramref name="children"/> (the walk's next), as many
    /// as <see cref="AheadLimit"/> leaves room for, last name first.
    /// </summary>
    private void QueueAhead(List<ChildInfo> children)
    {
        var more = 0;
        lock (_lock)
        {
            var chosen = new List<DirectoryHandle>();
            foreach (var child in children)
            {
                if (_ahead + chosen.Count == AheadLimit)
                {
                    break;
                }

                if (child.Subdirectory is { Listing: null } subdirectory)
                {
                    chosen.Add(subdirectory);
                }
            }

            for (var i = chosen.Count - 1; i >= 0; i--)
            {
                chosen[i].Ahead = true;
                _ahead++;
                _ = Queue(chosen[i], out var startLister);
                more += startLister ? 1 : 0;
            }
        }

        for (var i = 0; i < more; i++)
        {
            StartLister();
        }
    }

    /// <summary>
    /// Lists one directory of the tree, for the walk, sorted by name; what cannot be read goes to
    /// <see cref="Unreadable"/>. A directory removed since its parent was listed, or skipped as unreadable, comes back
    /// empty and <see cref="DirectoryHandle.LeftOut"/>; the root must be listed.
    /// </summary>
    private List<ChildInfo> List(DirectoryHandle directory)
    {
        List<DirectoryEntry> entries;
        try
        {
            if (directory.Path.Length > 0)
            {
                BeforeList?.Invoke(directory.Path);
            }

            entries = LinuxFile.ReadDirectory(directory.Descriptor);
        }
        catch (LinuxIOException e) when (directory.Path.Length == 0)
        {
            throw new CairnException($"cannot list the directory to snapshot: {e.Message}", e);
        }
        catch (LinuxIOException e) when (e.Errno == Errno.ENOENT)
        {
            // Removed since its parent was listed (getdents64 of a deleted directory fails so): left out, as it would
            // be had the parent been listed a moment later. Not an error: the tree was never in a state the snapshot
            // could not hold.
            _warnings.Enqueue($"'{Manifest.Display(directory.Path)}' was removed after it was listed: not in the snapshot");
            directory.LeftOut = true;
            return [];
        }
        catch (LinuxIOException e)
        {
            // Skipped (--skip-unreadable), and then not in the snapshot at all: an empty directory would say it was.
            Unreadable(directory.Path, e);
            directory.LeftOut = true;
            return [];
        }

        return Children(directory, entries, Unreadable);
    }

    /// <summary>
    /// Lists one directory now, on the calling thread, sorted by name; what cannot be read, the directory itself
    /// included, goes to <paramref name="unreadable"/>, which throws or records it (the entry is then left out).
    /// </summary>
    internal static List<ChildInfo> List(DirectoryHandle directory, Action<byte[], LinuxIOException> unreadable)
    {
        List<DirectoryEntry> entries;
        try
        {
            entries = LinuxFile.ReadDirectory(directory.Descriptor);
        }
        catch (LinuxIOException e)
        {
            unreadable(directory.Path, e);
            return [];
        }

        return Children(directory, entries, unreadable);
    }

    /// <summary>The children of <paramref name="directory"/> from its directory entries: stat, link targets, xattrs, handles of subdirectories.</summary>
    private static List<ChildInfo> Children(DirectoryHandle directory, List<DirectoryEntry> entries, Action<byte[], LinuxIOException> unreadable)
    {
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
                unreadable(directory.PathOf(name), new LinuxIOException(errno, "statx", name));
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
                unreadable(directory.PathOf(name), e);
            }
            catch (LinuxIOException)
            {
                // Vanished between statx and open: not in the snapshot.
            }
        }

        return children;
    }

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
