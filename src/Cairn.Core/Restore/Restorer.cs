using System.Diagnostics;
using Cairn.Diagnostics;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Linux;
using Cairn.Repository;

namespace Cairn.Restore;

/// <summary>
/// Restores a snapshot into a directory. Three phases:
/// <list type="number">
/// <item>structure: directories, symlinks, special and empty files, in manifest order, relative to directory
/// descriptors and never following a link;</item>
/// <item>data: the frames the snapshot needs, in pack order, fetched as coalesced ranged reads (starting while the
/// structure is created) and decoded frame by frame on one thread per core (<see cref="FramePipeline"/>); every
/// chunk is verified before it is written, to every file that holds it; a file gets its metadata and is closed as
/// soon as its last chunk is written;</item>
/// <item>hardlinks, then directory metadata deepest first (creating entries changes a directory's mtime).</item>
/// </list>
/// It all happens in a private sibling of the target that replaces it atomically at the end (<see cref="RestoreTarget"/>).
/// An image snapshot's restore also records what it restored (<see cref="RestoreOrigin"/>), and can clone the
/// blocks it shares with such an earlier restore instead of writing them: one named by the caller
/// (<see cref="RestoreOptions.ReflinkFrom"/>), or the nearest version in the local image cache, which then keeps this
/// one too (<see cref="RestoreOptions.ReflinkCache"/>, <see cref="ImageCache"/>).
/// </summary>
public sealed class Restorer
{
    private readonly Repository.Repository _repository;
    private readonly RestoreOptions _options;
    private readonly bool _restoreOwners = LinuxFile.IsRoot;
    private readonly List<string> _warnings = [];
    private long _bytesWritten;
    private long _bytesDecompressed;
    private long _bytesCloned;
    private ImageCache? _imageCache;
    private bool _cannotClone;

    public Restorer(Repository.Repository repository, RestoreOptions? options = null)
    {
        _repository = repository;
        _options = options ?? new RestoreOptions();
        _options.Validate();
    }

    /// <summary>
    /// A target that is a local repository, lies inside one, or holds one is refused: the restore would write among
    /// the repository's objects, or (with --replace) swap the repository out with the target's old contents and
    /// delete it. Directories are compared by device and inode, not by name, so a symbolic link on either path (a
    /// home under /var/home, say) does not hide the overlap.
    /// </summary>
    private void RefuseTheRepository(string target)
    {
        if (_repository.Store is not Storage.LocalObjectStore local || Identity(local.Location) is not { } root)
        {
            return;
        }

        var path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        if (path == "/" || new FileInfo(path).LinkTarget is not null)
        {
            return; // refused as the root directory or as a symbolic link (RestoreTarget), which says so more plainly
        }

        string? why = null;
        for (var p = path; p is not null && why is null; p = Path.GetDirectoryName(p))
        {
            why = Identity(p) == root ? "it is inside the repository" : null;
        }

        if (why is null && Identity(path) is { } targetIdentity)
        {
            for (var p = local.Location; p is not null && why is null; p = Path.GetDirectoryName(p))
            {
                why = Identity(p) == targetIdentity ? "it holds the repository" : null;
            }
        }

        if (why is not null)
        {
            throw new UsageException($"refusing to restore to '{path}': {why} at {local.Location}");
        }

        static (ulong Device, ulong Inode)? Identity(string directory)
        {
            try
            {
                using var fd = LinuxFile.OpenDirectory(directory);
                var stat = LinuxFile.Stat(fd);
                return (stat.Device, stat.Inode);
            }
            catch (LinuxIOException)
            {
                return null; // not there (yet), or not a directory: nothing to overlap
            }
        }
    }

    public async Task<RestoreResult> RestoreAsync(SnapshotRecord snapshot, string target, CancellationToken cancellationToken = default)
    {
        var stopwatch = Stopwatch.StartNew();
        RefuseTheRepository(target);
        var manifest = await _repository.ReadManifestAsync(snapshot, cancellationToken).ConfigureAwait(false);
        using var reflinkBase = await OpenReflinkBaseAsync(snapshot, manifest, target, cancellationToken).ConfigureAwait(false);
        var directories = new FileDescriptor?[manifest.Count];
        var destination = RestoreTarget.Prepare(target, _options.Replace, Warn);
        try
        {
            directories[0] = destination.Staging;
            PhaseTrace.Mark($"restore: manifest read ({manifest.Count} entries), target prepared");
            using var files = new OpenFiles(manifest);
            using var progress = StartProgress(manifest);
            if (reflinkBase is null)
            {
                // Fetching and decoding start while the tree is created: files are written as soon as their directory exists.
                var plan = RestorePlan.Build(manifest, _options.MaxReadSize);
                var data = WriteDataAsync(manifest, plan, directories, files, cancellationToken);
                try
                {
                    CreateStructure(manifest, directories, files);
                }
                catch (Exception e)
                {
                    files.Tree.Fail(e);
                    await data.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    throw;
                }

                await data.ConfigureAwait(false);
            }
            else
            {
                CreateStructure(manifest, directories, files);
                var done = CloneFromBase(manifest, directories, files, reflinkBase);
                await WriteDataAsync(manifest, RestorePlan.Build(manifest, _options.MaxReadSize, done), directories, files, cancellationToken).ConfigureAwait(false);
            }

            PhaseTrace.Mark($"restore: data written ({_bytesWritten} bytes)");
            if (snapshot.Kind == SnapshotRecord.ImageKind && RestoreOrigin.CanRecord(manifest))
            {
                RestoreOrigin.Write(destination.Staging, snapshot, manifest);
                KeepInImageCache(destination.Staging, snapshot, manifest);
            }
            else if (snapshot.Kind == SnapshotRecord.ImageKind)
            {
                Warn($"an image is named {RestoreOrigin.FileName}: this restore records no origin beside it, so it cannot serve as a --reflink-from base nor be kept in the image cache");
            }

            LinkAndFinish(manifest, directories);
            destination.Commit();
            PhaseTrace.Mark("restore: links and directory metadata done, committed");
        }
        finally
        {
            for (var i = 1; i < directories.Length; i++)
            {
                directories[i]?.Dispose();
            }

            // Removes the replaced contents, or a failed restore's partial tree, here rather than at the end of the
            // method: the restore's time, taken below, counts the removal (what it cannot remove goes to the warnings).
            destination.Dispose();
        }

        var clonedFrom = _bytesCloned > 0 ? reflinkBase?.Snapshot.ToString() : null;
        return new RestoreResult(manifest.Count, _bytesWritten, _bytesCloned, _bytesDecompressed, clonedFrom, Math.Round(stopwatch.Elapsed.TotalSeconds, 3), _warnings);
    }

    /// <summary>The earlier restore to clone from: the directory named by <see cref="RestoreOptions.ReflinkFrom"/>, or the nearest version in the image cache.</summary>
    private async Task<ReflinkBase?> OpenReflinkBaseAsync(SnapshotRecord snapshot, Manifest manifest, string target, CancellationToken cancellationToken)
    {
        if (_options.ReflinkFrom is { } directory)
        {
            return await ReflinkBase.OpenAsync(_repository, directory, Warn, cancellationToken).ConfigureAwait(false);
        }

        if (_options.ReflinkCache is null)
        {
            return null;
        }

        if (snapshot.Kind != SnapshotRecord.ImageKind)
        {
            Warn("--reflink applies to image snapshots: this tree is restored without it");
            return null;
        }

        // The cache removes and replaces its versions, and a restore replaces its target: neither may hold the other.
        var cacheDirectory = LocalCache.DirectoryOf(_options.ReflinkCache, _repository.Config.Id);
        var targetPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        if (IsWithin(targetPath, cacheDirectory) || IsWithin(cacheDirectory, targetPath))
        {
            throw new UsageException($"cannot restore into '{target}' with --reflink: the image cache is '{cacheDirectory}'");
        }

        try
        {
            _imageCache = ImageCache.Open(_options.ReflinkCache, _repository.Config.Id, _options.ReflinkCacheVersions);
            return await _imageCache.FindBaseAsync(_repository, snapshot, manifest, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Warn($"cannot use the image cache in '{cacheDirectory}' ({e.Message}): restored without --reflink");
            _imageCache = null;
            return null;
        }
    }

    private static bool IsWithin(string path, string directory) =>
        path == directory || path.StartsWith(directory + "/", StringComparison.Ordinal);

    private string CloneHint => _imageCache is null ? "btrfs, xfs" : "btrfs, xfs; give --cache-dir on the target's file system";

    /// <summary>Where the clones come from, for warnings.</summary>
    private string BaseDescription => _imageCache is { } cache ? $"the image cache '{cache.Directory}'" : $"the reflink base '{_options.ReflinkFrom}'";

    /// <summary>
    /// Keeps the images just restored in the image cache (with <c>--reflink</c>) for the next restore to clone from.
    /// A cache that cannot take them costs the restore nothing but a warning.
    /// </summary>
    private void KeepInImageCache(FileDescriptor restored, SnapshotRecord snapshot, Manifest manifest)
    {
        if (_imageCache is null || _cannotClone)
        {
            return; // cloning out of the cache failed already, and said why
        }

        try
        {
            if (!_imageCache.TryAdd(restored, snapshot, manifest))
            {
                Warn($"{BaseDescription} and the target are not on one file system that can clone ({CloneHint}): --reflink has no effect here");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Warn($"could not keep the restored images in {BaseDescription}: {e.Message}");
        }
    }

    // ---------------------------------------------------------------- phase 1: structure

    /// <summary>
    /// Creates everything but file data, hardlinks and directory metadata, in manifest order, telling
    /// <see cref="OpenFiles.Tree"/> how far it got.
    /// </summary>
    private void CreateStructure(Manifest m, FileDescriptor?[] directories, OpenFiles files)
    {
        for (var i = 1; i < m.Count; i++)
        {
            ref readonly var e = ref m.Entries[i];
            var parent = directories[m.ParentOf(i)]!;
            var name = m.NameOf(i);
            switch (e.Kind)
            {
                case EntryKind.Directory:
                    LinuxFile.MakeDirectoryAt(parent, name, 0b111_000_000);
                    directories[i] = LinuxFile.OpenAt(parent, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
                    files.Tree.Advance(i + 1);
                    break;
                case EntryKind.Symlink:
                    LinuxFile.SymlinkAt(m.SymlinkTarget(i), parent, name);
                    if (_restoreOwners)
                    {
                        LinuxFile.ChangeOwnerAt(parent, name, e.Uid, e.Gid);
                    }

                    foreach (var x in m.XattrsOf(i))
                    {
                        TrySetXattr(m, i, x, parent, fd: null);
                    }

                    LinuxFile.SetTimesAt(parent, name, e.MTimeNs, e.MTimeNs);
                    break;
                case EntryKind.Fifo or EntryKind.CharDevice or EntryKind.BlockDevice:
                    CreateNode(m, i, parent);
                    break;
                case EntryKind.Regular:
                    if (e.Count == 0)
                    {
                        using var fd = CreateFile(m, i, parent);
                        FinishFile(m, i, fd);
                    }

                    break;
            }
        }

        files.Tree.Advance(m.Count);
        PhaseTrace.Mark("restore: structure created");
    }

    private void CreateNode(Manifest m, int i, FileDescriptor parent)
    {
        ref readonly var e = ref m.Entries[i];
        var type = e.Kind switch { EntryKind.Fifo => 0x1000u, EntryKind.CharDevice => 0x2000u, _ => 0x6000u };
        if (e.Kind != EntryKind.Fifo && !LinuxFile.IsRoot)
        {
            Warn($"skipped device node '{m.DisplayPath(i)}' (only root can create device nodes)");
            return;
        }

        LinuxFile.MakeNodeAt(parent, m.NameOf(i), type | e.Mode, e.Kind == EntryKind.Fifo ? 0 : e.DeviceNumber);
        if (_restoreOwners)
        {
            LinuxFile.ChangeOwnerAt(parent, m.NameOf(i), e.Uid, e.Gid);
        }

        // mknod applies the umask, and chown clears set-user-id and set-group-id: set the mode explicitly, after both.
        LinuxFile.ChangeModeAt(parent, m.NameOf(i), e.Mode);
        foreach (var x in m.XattrsOf(i))
        {
            TrySetXattr(m, i, x, parent, fd: null);
        }

        LinuxFile.SetTimesAt(parent, m.NameOf(i), e.MTimeNs, e.MTimeNs);
    }

    // ---------------------------------------------------------------- phase 2: data

    /// <summary>
    /// Clones the runs of blocks the images share with the reflink base (FICLONERANGE: no data moves); returns which
    /// chunk references that settled. Where the file systems cannot clone, warns once and leaves everything to copying.
    /// </summary>
    private bool[] CloneFromBase(Manifest m, FileDescriptor?[] directories, OpenFiles files, ReflinkBase reflinkBase)
    {
        var done = new bool[m.ChunkRefs.Length];
        var runs = new List<CloneRun>();
        var counterparts = 0;
        foreach (var i in m.RootFiles())
        {
            runs.Clear();
            if (reflinkBase.Match(m, i, runs) is not { } source)
            {
                continue;
            }

            counterparts++;
            if (runs.Count == 0)
            {
                continue;
            }

            var entry = i;
            var fd = files.Get(entry, m, directories);
            LinuxFile.Truncate(fd, m.Entries[i].Size); // clones may land past the current end of the file
            foreach (var run in runs)
            {
                if (!LinuxFile.TryCloneRange(source, run.SourceOffset, fd, run.Offset, run.Length))
                {
                    if (_bytesCloned == 0)
                    {
                        _cannotClone = true;
                        Warn($"{BaseDescription} and the target are not on one file system that can clone ({CloneHint}): copied instead");
                        return done;
                    }

                    continue; // this run is copied
                }

                done.AsSpan(run.FirstRef, run.RefCount).Fill(true);
                _bytesCloned += run.Length;
                files.Remaining[i] -= run.RefCount;
            }

            if (files.Remaining[i] == 0)
            {
                FinishFile(m, i, fd);
                files.Close(i);
            }
        }

        if (counterparts == 0 && _imageCache is null) // the cache's fallback version may be of other images: no news
        {
            Warn($"no image of this snapshot has a counterpart of the same name in the reflink base '{_options.ReflinkFrom}': copied instead");
        }

        return done;
    }

    /// <summary>Fetches, decodes and writes the plan's frames (see <see cref="FramePipeline"/>); a file is created once its directory exists.</summary>
    private async Task WriteDataAsync(Manifest m, RestorePlan plan, FileDescriptor?[] directories, OpenFiles files, CancellationToken cancellationToken) =>
        _bytesDecompressed += await FramePipeline.RunAsync(
            _repository.Store,
            m,
            plan,
            new FramePipeline.Limits(_options.ReadAheadBytes, _options.Concurrency, _options.DecodeThreads),
            (frame, data, key) => WriteFrame(m, plan, frame, data, directories, files, key),
            cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Verifies the chunks of one decoded frame, all of them before any is written, then writes them. Chunks that lie
    /// one after the other both in the frame and in one file (an image's blocks, mostly) go out in one write: a 4 KiB
    /// block per system call would cost more than the data.
    /// </summary>
    private void WriteFrame(Manifest m, RestorePlan plan, int frame, ReadOnlySpan<byte> data, FileDescriptor?[] directories, OpenFiles files, string key)
    {
        FrameCodec.VerifyChunks(data, m, plan.ChunksOf(frame), plan.RangesOf(frame), key);
        var runEntry = -1;
        long runOffset = 0;
        int runStart = 0, runLength = 0, runChunks = 0;
        foreach (var chunk in plan.ChunksOf(frame))
        {
            var start = (int)m.Locations[chunk].OffsetInFrame;
            var length = (int)m.Chunks[chunk].Length;
            var destinations = plan.DestinationsOf(chunk);
            if (destinations.Length == 1 && destinations[0].Entry == runEntry && destinations[0].Offset == runOffset + runLength && start == runStart + runLength)
            {
                runLength += length;
                runChunks++;
                continue;
            }

            if (runChunks > 0)
            {
                WriteRun(m, directories, files, runEntry, runOffset, data.Slice(runStart, runLength), runChunks);
            }

            runChunks = 0;
            runEntry = -1;
            if (destinations.Length == 1)
            {
                (runEntry, runOffset, runStart, runLength, runChunks) = (destinations[0].Entry, destinations[0].Offset, start, length, 1);
                continue;
            }

            foreach (var (entry, offset) in destinations)
            {
                WriteRun(m, directories, files, entry, offset, data.Slice(start, length), 1);
            }
        }

        if (runChunks > 0)
        {
            WriteRun(m, directories, files, runEntry, runOffset, data.Slice(runStart, runLength), runChunks);
        }
    }

    /// <summary>Writes <paramref name="chunks"/> consecutive chunk references of a file; the last one finishes it.</summary>
    private void WriteRun(Manifest m, FileDescriptor?[] directories, OpenFiles files, int entry, long offset, ReadOnlySpan<byte> data, int chunks)
    {
        var fd = files.Get(entry, m, directories);
        LinuxFile.WriteAll(fd, data, offset);
        Interlocked.Add(ref _bytesWritten, data.Length);
        if (Interlocked.Add(ref files.Remaining[entry], -chunks) == 0)
        {
            FinishFile(m, entry, fd);
            files.Close(entry);
        }
    }

    /// <summary>Size (holes at the end), owner, mode, xattrs and times of a file whose data is all written.</summary>
    private void FinishFile(Manifest m, int i, FileDescriptor fd)
    {
        ref readonly var e = ref m.Entries[i];
        var refs = m.ChunkRefsOf(i);
        var end = refs.IsEmpty ? 0 : refs[^1].Offset + m.Chunks[refs[^1].Chunk].Length;
        if (end != e.Size)
        {
            LinuxFile.Truncate(fd, e.Size);
        }

        SetMetadata(m, i, fd);
    }

    /// <summary>
    /// Creates a regular file with its final permission bits (writing needs no permission on a descriptor already
    /// open for writing), so <see cref="SetMetadata"/> can skip chmod when the umask left them intact.
    /// </summary>
    private static FileDescriptor CreateFile(Manifest m, int i, FileDescriptor parent)
    {
        var fd = LinuxFile.OpenAt(parent, m.NameOf(i), OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, m.Entries[i].Mode & 0x1FF);
        if ((m.Entries[i].Traits & EntryTraits.Sparse) != 0)
        {
            // The size first: without it XFS preallocates behind each write and the holes come back allocated.
            LinuxFile.Truncate(fd, m.Entries[i].Size);
        }

        return fd;
    }

    private void SetMetadata(Manifest m, int i, FileDescriptor fd)
    {
        ref readonly var e = ref m.Entries[i];
        var chowned = false;
        if (_restoreOwners && (e.Uid != LinuxFile.EffectiveUserId || e.Gid != LinuxFile.EffectiveGroupId))
        {
            LinuxFile.ChangeOwner(fd, e.Uid, e.Gid);
            chowned = true;
        }

        // A file created with its mode keeps it unless the umask removed bits, the mode has set-id/sticky bits (not
        // passed to open), or chown cleared set-id bits. Directories are always created 0700 and need their mode.
        if (chowned || e.Kind == EntryKind.Directory || (e.Mode & ~0x1FFu) != 0 || (e.Mode & LinuxFile.Umask) != 0)
        {
            LinuxFile.ChangeMode(fd, e.Mode);
        }
        foreach (var x in m.XattrsOf(i))
        {
            TrySetXattr(m, i, x, directory: null, fd);
        }

        LinuxFile.SetTimes(fd, e.MTimeNs, e.MTimeNs);
    }

    // ---------------------------------------------------------------- phase 3: links and directories

    private void LinkAndFinish(Manifest m, FileDescriptor?[] directories)
    {
        for (var i = 1; i < m.Count; i++)
        {
            if (m.Entries[i].Kind == EntryKind.Hardlink)
            {
                var target = (int)m.Entries[i].First;
                LinuxFile.LinkAt(directories[m.ParentOf(target)]!, m.NameOf(target), directories[m.ParentOf(i)]!, m.NameOf(i));
            }
        }

        for (var i = m.Count - 1; i >= 0; i--)
        {
            if (m.Entries[i].Kind == EntryKind.Directory)
            {
                SetMetadata(m, i, directories[i]!);
            }
        }
    }

    /// <summary>Sets one xattr on an open file (<paramref name="fd"/>) or on a symlink by name in <paramref name="directory"/>.</summary>
    private void TrySetXattr(Manifest m, int entry, XattrRecord x, FileDescriptor? directory, FileDescriptor? fd)
    {
        try
        {
            var name = m.StringAt(x.NameOffset, x.NameLength);
            var value = m.StringAt(x.ValueOffset, x.ValueLength);
            if (fd is not null)
            {
                LinuxFile.SetXattr(fd, name, value);
            }
            else
            {
                LinuxFile.SetXattrAt(directory!, m.NameOf(entry), name, value);
            }
        }
        catch (LinuxIOException e)
        {
            // Some namespaces need privileges or file-system support the target may lack: say so, go on.
            Warn($"could not restore an extended attribute of '{m.DisplayPath(entry)}': {e.Message}");
        }
    }

    private void Warn(string message)
    {
        lock (_warnings)
        {
            _warnings.Add(message);
        }
    }

    private Timer? StartProgress(Manifest m)
    {
        if (_options.Progress is null)
        {
            return null;
        }

        long total = 0;
        foreach (var e in m.Entries)
        {
            total += e.Kind == EntryKind.Regular ? e.Size : 0;
        }

        return new Timer(_ => _options.Progress.Report(new RestoreProgress(Interlocked.Read(ref _bytesWritten), total)), null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250));
    }

    /// <summary>
    /// Files open for writing, and how many chunk writes each still waits for. Lock-free: most files are one chunk
    /// written by one worker, and a global lock here showed up as tens of thousands of futex calls.
    /// </summary>
    private sealed class OpenFiles : IDisposable
    {
        private readonly FileDescriptor?[] _open;
        private readonly Lock _createLock = new();

        public OpenFiles(Manifest m)
        {
            _open = new FileDescriptor?[m.Count];
            Remaining = new int[m.Count];
            for (var i = 0; i < m.Count; i++)
            {
                Remaining[i] = m.Entries[i].Kind == EntryKind.Regular ? (int)m.Entries[i].Count : 0;
            }
        }

        /// <summary>Chunk writes each file still waits for.</summary>
        public int[] Remaining { get; }

        /// <summary>Which directories exist yet.</summary>
        public TreeProgress Tree { get; } = new();

        public FileDescriptor Get(int entry, Manifest m, FileDescriptor?[] directories)
        {
            var fd = Volatile.Read(ref _open[entry]);
            if (fd is not null)
            {
                return fd;
            }

            Tree.WaitFor(m.ParentOf(entry));
            if (m.Entries[entry].Count == 1)
            {
                // The file's only chunk: no other worker can race for it. (Not "one chunk left": another worker may
                // have written all the others since this one found no descriptor.)
                return _open[entry] = CreateFile(m, entry, directories[m.ParentOf(entry)]!);
            }

            lock (_createLock)
            {
                return _open[entry] ??= CreateFile(m, entry, directories[m.ParentOf(entry)]!);
            }
        }

        public void Close(int entry) => Interlocked.Exchange(ref _open[entry], null)?.Dispose();

        public void Dispose()
        {
            for (var i = 0; i < _open.Length; i++)
            {
                Close(i);
            }
        }
    }
}
