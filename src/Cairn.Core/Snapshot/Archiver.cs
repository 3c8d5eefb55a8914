using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using Cairn.Buffers;
using Cairn.Chunking;
using Cairn.Diagnostics;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Storage;
using Cairn.Threading;

namespace Cairn.Snapshot;

/// <summary>
/// Snapshots a directory tree, or a set of VM image files, into a repository. Three stages run at once:
/// <list type="number">
/// <item>the walk goes depth-first in name order (listing several directories at a time ahead of it) and appends
/// entries to the manifest (for images: the files named, as the entries of the root directory);</item>
/// <item>readers read, cut and hash files in parallel, in walk order, within a byte budget;</item>
/// <item>one packer takes the files in order, looks every chunk up in the index and hands new ones to the
/// <see cref="PackWriter"/>, which compresses frames in parallel and uploads packs.</item>
/// </list>
/// Then the index object, the manifest and the snapshot record are written, in that order, so an interrupted run
/// leaves no visible snapshot and a re-run reuses every pack already written. The two kinds differ only in the
/// <see cref="IChunker"/>: content-defined chunks for trees, fixed aligned blocks without the all-zero ones for images.
/// A third source, an overlay's upper directory (<see cref="SnapshotOverlayAsync"/>), is walked the same way, merged
/// with its base manifest: what the upper directory does not mention is taken from the base by reference, unread. Over
/// an image snapshot, the upper directory's top is a set of images, and the run is an image run.
/// </summary>
public sealed class Archiver
{
    // Larger files are streamed by the packer instead of read ahead whole: keeps pooled buffers (and RSS) small.
    private const int WholeFileLimit = 1 << 20;

    private readonly Repository.Repository _repository;
    private readonly SnapshotOptions _options;
    private readonly ConcurrentQueue<string> _skipped = new();
    private readonly ConcurrentQueue<string> _warnings = new();

    private IChunker _chunker;
    private bool _trySegments; // an image run: each image's frames may be compressed in segments (SegmentTrial)
    private long _files;
    private long _bytes;
    private long _bytesRead;
    private long _newBytes;
    private long _zeroBytes;
    private long _chunks;
    private long _newChunks;
    private long _unchanged;
    private ReadAhead? _readAhead;
    private ParentLayout.ParentFrames? _fresh; // with Relayout: the frames whose chunks count as this run's (it stores the others again); the packer's
    private IReadOnlyDictionary<int, ParentLayout.EntryUse>? _inherited; // an image run with a bound: what each of the parent's images leaves unused (ParentLayout)
    private readonly ConcurrentQueue<RelayoutCause> _relayoutCauses = []; // the images this run relays out past the bound, and why
    private readonly Dictionary<int, LinkGroup> _linkGroups = []; // the tree's hard-linked files, by first entry; the packer's, then the manifest's
    private readonly List<int> _leftOutFiles = []; // entries of files that were gone or skipped when read; the packer's, then the manifest's

    /// <summary>The run's <see cref="SnapshotStats.Relayout"/>: known once every file is listed.</summary>
    private string? Relayout => _options.Relayout ? SnapshotStats.RelayoutRequested : _relayoutCauses.IsEmpty ? null : SnapshotStats.RelayoutBound;
    private bool _storeAgain; // the file being packed is relaid out: every chunk not in a frame of this run's is stored again; the packer's
    private ParentLayout.ParentFrames? _kept; // an image run with a parent: the frames it references chunks in as they are, storing again any other it finds (ParentLayout); the packer's
    private HashSet<ContentId>? _movable; // index keys of the parent's chunks this run stores again if it reads them (ParentLayout); the packer's
    private long _rewrittenBytes;
    private BlockingIoScheduler? _io; // the run's, owned by RunAsync
    private OverlayFlavor? _overlay;

    public Archiver(Repository.Repository repository, SnapshotOptions? options = null)
    {
        _repository = repository;
        _options = options ?? new SnapshotOptions();
        _chunker = new FastCdc(repository.Config.ChunkerParameters);
        if (_options.RelayoutAbove is { } bound && !(bound >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(options), bound, "RelayoutAbove is a fraction of at least 0, or null");
        }
    }

    /// <summary>
    /// Test seam: called with the path of a listed file or directory (relative to the tree) between its listing and
    /// the first open that reads it (for a directory, its own listing), on the thread about to do that, so that a
    /// test can change the tree at that point exactly.
    /// </summary>
    internal Action<byte[]>? BeforeRead { get; init; }

    /// <summary>Snapshots the directory tree at <paramref name="path"/> (record kind "tree").</summary>
    public Task<SnapshotResult> SnapshotAsync(string path, CancellationToken cancellationToken = default)
    {
        var source = Path.GetFullPath(path);
        if (File.Exists(source))
        {
            throw new UsageException($"'{source}' is a file: a tree snapshot takes a directory (to snapshot a VM image file, use --image)");
        }

        return SnapshotTreeAsync(source, new Run(SnapshotRecord.TreeKind, s => s.Kind == SnapshotRecord.TreeKind && s.Source == source) { Source = source }, cancellationToken);
    }

    /// <summary>
    /// Snapshots the merged view of an overlay mounted over <see cref="OverlayChanges.Base"/> from its upper directory
    /// alone, with the base as parent: whiteouts are deletions, opaque directories replace the base's, entries in the
    /// upper directory replace the base's (their files are read, so unchanged chunks dedup), and everything else is
    /// the base's entry by reference, never read. The time taken is proportional to the change. The result is a
    /// complete snapshot: restoring it needs neither the overlay nor the upper directory. A base that is an image
    /// snapshot gives an image snapshot (<see cref="SnapshotOverlayImagesAsync"/>).
    /// </summary>
    public Task<SnapshotResult> SnapshotOverlayAsync(OverlayChanges changes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(changes);
        _overlay = changes.Flavor;
        if (changes.Base.Kind == SnapshotRecord.ImageKind)
        {
            return SnapshotOverlayImagesAsync(changes, cancellationToken);
        }

        if (_options.Relayout)
        {
            throw new UsageException("a snapshot of a writable mount reads only its changes: it cannot store everything again (relayout)");
        }

        return SnapshotTreeAsync(Path.GetFullPath(changes.UpperDirectory), new Run(SnapshotRecord.TreeKind, _ => false) { Source = changes.Source, Base = changes.Base }, cancellationToken);
    }

    /// <summary>
    /// A writable mount of an image snapshot, snapshotted as <c>snapshot --image</c> of the files at the top of the
    /// mount with the mounted snapshot as parent would be (the same blocks and dedup against the parent, the same
    /// bound and relayout rules, the images' paths named in the mount), but from the upper directory: an image it does
    /// not hold is taken over from the base unread (what an unchanged image is), one it holds is read from there, and
    /// a whiteout drops one. A new regular file at the top is a new image; anything else there is refused
    /// (<see cref="OverlayImages"/>).
    /// </summary>
    private async Task<SnapshotResult> SnapshotOverlayImagesAsync(OverlayChanges changes, CancellationToken cancellationToken)
    {
        using var images = OverlayImages.Open(changes);
        var run = new Run(SnapshotRecord.ImageKind, _ => false) { Source = images.MountPoint, Base = changes.Base };
        UseImageChunker();
        return await RunAsync(run, (builder, parent, jobs, ct) => ListOverlayImagesAsync(images, run, builder, parent!, jobs, ct), cancellationToken).ConfigureAwait(false);
    }

    private async Task<SnapshotResult> SnapshotTreeAsync(string directory, Run run, CancellationToken cancellationToken)
    {
        FileDescriptor rootFd;
        try
        {
            rootFd = LinuxFile.OpenDirectory(directory);
        }
        catch (LinuxIOException e)
        {
            throw new UsageException($"cannot snapshot '{directory}': {e.Message}");
        }

        var root = new DirectoryHandle(rootFd, []);
        try
        {
            root.AddReference(); // the walk's, released once the root is listed
            return await RunAsync(run, (builder, parent, jobs, ct) => WalkAsync(root, builder, parent, jobs, ct), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            root.Release();
        }
    }

    /// <summary>
    /// Snapshots VM image files (record kind "image"): a tree whose root directory holds the images by base name,
    /// cut into fixed blocks of the repository's <see cref="RepositoryConfig.ImageBlockSize"/>; all-zero blocks and
    /// holes are not stored. With a parent, unchanged images are not read and changed ones store only new blocks.
    /// </summary>
    public async Task<SnapshotResult> SnapshotImagesAsync(IReadOnlyList<string> paths, CancellationToken cancellationToken = default)
    {
        using var images = ImageSet.Open(paths);
        var imagePaths = images.Paths;
        var sorted = imagePaths.Order(StringComparer.Ordinal).ToArray();
        var run = new Run(SnapshotRecord.ImageKind, s => s.Kind == SnapshotRecord.ImageKind && s.Paths is not null && s.Paths.Order(StringComparer.Ordinal).SequenceEqual(sorted))
        {
            Source = string.Join(' ', imagePaths),
            Paths = imagePaths,
        };
        UseImageChunker();
        return await RunAsync(run, (builder, parent, jobs, ct) => ListImagesAsync(images, builder, parent, jobs, ct), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An image run: fixed blocks without the all-zero ones, and frames that may be compressed in segments.</summary>
    private void UseImageChunker()
    {
        _chunker = new FixedBlockChunker(_repository.Config.ImageBlockSize);
        _trySegments = true;
    }

    private async Task<SnapshotResult> RunAsync(Run run, Func<ManifestBuilder, Manifest?, ChannelWriter<FileJob>, CancellationToken, Task> walkStage, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        PhaseTrace.Mark($"snapshot ({run.Kind}): start");

        // The index and the parent are independent reads, each a few round trips to an object store: overlap them
        // (an incremental snapshot to S3 spent ~150 ms on each, one after the other, of its ~0.8 s).
        using var loading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var indexLoad = _repository.LoadIndexAsync(loading.Token);
        SnapshotRecord? parent;
        Manifest? parentManifest;
        try
        {
            parent = await ResolveParentAsync(run, cancellationToken).ConfigureAwait(false);
            parentManifest = parent is null ? null : await _repository.ReadManifestAsync(parent, sources: true, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await loading.CancelAsync().ConfigureAwait(false);
            await indexLoad.ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }

        PhaseTrace.Mark("snapshot: parent resolved and its manifest loaded");
        var index = await indexLoad.ConfigureAwait(false);
        if (parentManifest is not null && !_options.Relayout)
        {
            var placement = await ParentLayout.ApplyAsync(parentManifest, index, _repository, _trySegments, cancellationToken).ConfigureAwait(false);
            _movable = placement.Movable;
            _kept = _trySegments ? placement.Frames : null;

            // Depth bounded, for images: each image is judged as it is listed (FileJobFor).
            _inherited = _trySegments && _options.RelayoutAbove is not null ? placement.Entries : null;
        }

        _fresh = _options.Relayout ? ParentLayout.Relayout(index) : null;
        PhaseTrace.Mark($"snapshot: index loaded ({index.ChunkCount} chunks; {_movable?.Count ?? 0} of the parent's chunks in frames it mostly left)");
        var builder = new ManifestBuilder();
        var results = new Dictionary<int, FileResult>();
        var storedBefore = _repository.Store.Statistics.BytesWritten;

        using var progressTimer = StartProgress(stopwatch);
        var indexWritten = Task.CompletedTask;
        await using (var writer = new PackWriter(_repository, index, cancellationToken))
        {
            // Reads and listings block their threads: they get threads of their own (see BlockingIoScheduler).
            using var io = new BlockingIoScheduler(_options.ReadConcurrency, "cairn-read");
            _io = io;
            var jobs = Channel.CreateBounded<FileJob>(new BoundedChannelOptions(4096) { SingleReader = true, SingleWriter = true });
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var walk = RunStage(() => walkStage(builder, parentManifest, jobs.Writer, linked.Token), linked);
            var pack = RunStage(() => PackAsync(jobs.Reader, builder, index, writer, parentManifest, results, linked.Token), linked);
            await Task.WhenAll(walk, pack).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);

            // No file is read any more, whatever the outcome: unmap the read-ahead buffers (before the manifest is
            // built, or for good when the run failed: a daemon runs many snapshots in one process).
            _readAhead?.Dispose();
            _readAhead = null;
            if (walk.IsFaulted || pack.IsFaulted || walk.IsCanceled || pack.IsCanceled)
            {
                // Rethrow the first real failure with its own stack trace, not the cancellations it caused.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(Unwrap(walk, pack));
            }

            PhaseTrace.Mark("snapshot: walk and packing done");
            await writer.FlushAsync().ConfigureAwait(false);
            PhaseTrace.Mark("snapshot: packs flushed");

            // Packs an interrupted run left unindexed are listed here too, so later runs need not read their trailers.
            var indexed = writer.WrittenPacks.Concat(index.RecoveredPacks).ToList();
            if (indexed.Count > 0)
            {
                // Nothing in the manifest depends on the index object: encode and write it while the manifest is built,
                // encoded and written (each a compression and a durable write: ~50 ms apiece for an image of 100k
                // blocks). Both are done before the record, the object that makes the snapshot exist.
                indexWritten = Task.Run(() => WriteIndexAsync(indexed, cancellationToken), cancellationToken);
            }
        }

        Manifest manifest;
        try
        {
            if (Relayout is not null)
            {
                // The manifest a relayout writes may replace one existing snapshots read: only once the packs it names
                // are in an index object, so that no failure from here on leaves them reading unindexed packs.
                await indexWritten.ConfigureAwait(false);
            }

            manifest = await WriteManifestAsync(builder, results, index, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The index write is awaited on every path, so its own failure is never left unobserved; the manifest's
            // failure is the one reported.
            await indexWritten.ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }

        await indexWritten.ConfigureAwait(false);
        PhaseTrace.Mark("snapshot: index and manifest written");
        var (files, directories, symlinks, others, bytes) = Tally(manifest);
        var stats = new SnapshotStats
        {
            Files = files,
            Directories = directories,
            Symlinks = symlinks,
            Others = others,
            Bytes = bytes,
            BytesRead = _bytesRead,
            NewBytes = _newBytes,
            RewrittenBytes = _rewrittenBytes > 0 ? _rewrittenBytes : null,
            Relayout = Relayout,
            ZeroBytes = _zeroBytes,
            Chunks = _chunks,
            NewChunks = _newChunks,
            UnchangedFiles = _unchanged,
            StoredBytes = _repository.Store.Statistics.BytesWritten - storedBefore,
            Seconds = Math.Round(stopwatch.Elapsed.TotalSeconds, 3),
        };
        var record = new SnapshotRecord
        {
            Kind = run.Kind,
            Tree = manifest.TreeHash.ToString(),
            Parent = parent?.Id.ToString(),
            Time = DateTimeOffset.UtcNow,
            Host = _options.Host ?? Environment.MachineName,
            User = Environment.UserName,
            Source = run.Source,
            Paths = run.Paths,
            Tags = _options.Tags,
            Stats = stats,
        };
        var recordBytes = record.Serialize();
        await _repository.Store.PutAsync(ObjectKeys.Snapshot(record.Id), recordBytes, cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var tag in _options.Tags)
        {
            await _repository.SetTagAsync(tag, record.Id, cancellationToken).ConfigureAwait(false);
        }

        PhaseTrace.Mark("snapshot: record and tags written");
        return new SnapshotResult(record, [.. _skipped], [.. _warnings])
        {
            Relayouts = [.. _relayoutCauses],
            UncoveredBytes = results.Values.Sum(r => r.Size - r.Covered),
        };
    }

    /// <summary>
    /// The record's counts, from the manifest: what was listed is counted as the walk goes (for the progress line),
    /// but a file read may have become something else since (another size, another kind, another name's file).
    /// </summary>
    private static (long Files, long Directories, long Symlinks, long Others, long Bytes) Tally(Manifest manifest)
    {
        long files = 0, directories = 0, symlinks = 0, others = 0, bytes = 0;
        foreach (ref readonly var e in manifest.Entries.AsSpan())
        {
            switch (e.Kind)
            {
                case EntryKind.Regular:
                    files++;
                    bytes += e.Size;
                    break;
                case EntryKind.Directory:
                    directories++;
                    break;
                case EntryKind.Symlink:
                    symlinks++;
                    break;
                case EntryKind.Hardlink:
                    break;
                default:
                    others++;
                    break;
            }
        }

        return (files, directories, symlinks, others, bytes);
    }

    private async Task WriteIndexAsync(List<(ContentId Pack, PackIndex Index)> packs, CancellationToken cancellationToken)
    {
        var indexBytes = IndexFile.Encode(packs, _repository.Config.CompressionLevel);
        await _repository.Store.PutAsync(ObjectKeys.Index(ContentId.Hash(indexBytes)), indexBytes, cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Completes the entries with what packing found, then builds the manifest and writes it (unless it exists).</summary>
    private async Task<Manifest> WriteManifestAsync(ManifestBuilder builder, Dictionary<int, FileResult> results, ChunkIndex index, CancellationToken cancellationToken)
    {
        // A hard-linked file's data goes to the first entry still naming it, which may not be the first the walk
        // listed (that name may be another file by now), and its other names link to it: a hardlink names an earlier
        // entry (docs/format.md).
        foreach (var group in _linkGroups.Values)
        {
            if (group.Names.Count == 0)
            {
                continue; // none of its names was still it: each was stored as what it had become
            }

            group.Names.Sort();
            var holder = group.Names[0];
            results[holder] = group.File ?? throw new InvalidOperationException("a hard-linked file has names but no data");
            foreach (var name in group.Names.Skip(1))
            {
                ref var link = ref builder.Entry(name);
                link = link with { Kind = EntryKind.Hardlink, Traits = EntryTraits.None, First = (uint)holder, Count = 0, Size = 0 };
            }
        }

        foreach (var entry in _leftOutFiles)
        {
            builder.LeaveOut(entry);
        }

        foreach (var (entry, result) in results)
        {
            ref var e = ref builder.Entry(entry);
            e.Kind = result.Kind;
            e.Mode = result.Mode;
            e.Uid = result.Uid;
            e.Gid = result.Gid;
            (e.First, e.Count) = result.Kind switch
            {
                EntryKind.Regular => ((uint)result.RefStart, (uint)result.RefCount),
                EntryKind.CharDevice or EntryKind.BlockDevice => ((uint)result.RDevice, (uint)(result.RDevice >> 32)),
                _ => (0u, 0u),
            };
            e.Size = result.Size;
            e.MTimeNs = result.MTimeNs;
            e.Traits = result.Covered != result.Size ? EntryTraits.Sparse : EntryTraits.None;
            builder.SetXattrs(entry, result.Xattrs);
            builder.Source(entry) = result.Source;
        }

        var manifest = builder.Build(index);
        var manifestBytes = ManifestCodec.Encode(manifest, _repository.Config.CompressionLevel);
        var manifestKey = ObjectKeys.Manifest(manifest.TreeHash);

        // A manifest is named by its tree, not by where its chunks are: a relayout of a tree the repository already
        // has replaces its locations (docs/format.md, "Identity versus location"), which every snapshot of the tree
        // then reads. The chunks the old locations name stay where they are until a collector removes them.
        if (Relayout is not null || await _repository.Store.TryGetSizeAsync(manifestKey, cancellationToken).ConfigureAwait(false) is null)
        {
            await _repository.Store.PutAsync(manifestKey, manifestBytes, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        return manifest;
    }

    private async Task<SnapshotRecord?> ResolveParentAsync(Run run, CancellationToken cancellationToken)
    {
        foreach (var tag in _options.Tags)
        {
            Repository.Repository.ValidateTagName(tag);
        }

        if (run.Base is not null)
        {
            return run.Base;
        }

        if (_options.Parent is null or SnapshotOptions.NoParent)
        {
            return null;
        }

        if (_options.Parent != SnapshotOptions.AutoParent)
        {
            return SameKind(run, await _repository.ResolveAsync(_options.Parent, cancellationToken).ConfigureAwait(false), $"--parent {_options.Parent}");
        }

        if (_options.Tags.Count > 0)
        {
            var tag = await _repository.TryReadTagAsync(_options.Tags[0], cancellationToken).ConfigureAwait(false);
            if (tag is not null)
            {
                return SameKind(run, await _repository.ReadSnapshotAsync(ContentId.Parse(tag.Snapshot), cancellationToken).ConfigureAwait(false), $"the tag '{_options.Tags[0]}'");
            }
        }

        var snapshots = await _repository.ListSnapshotsAsync(cancellationToken).ConfigureAwait(false);
        return snapshots.LastOrDefault(run.IsSameSource);
    }

    /// <summary>
    /// A parent of the run's kind: a tree's files and an image's blocks are laid out differently, and an image lineage
    /// continued from a tree (or the reverse) would be weighed against frames it never had (and say it stored blocks
    /// "again"). Refused, naming <paramref name="chosenBy"/>, rather than taken.
    /// </summary>
    private static SnapshotRecord SameKind(Run run, SnapshotRecord parent, string chosenBy) =>
        parent.Kind == run.Kind
            ? parent
            : throw new UsageException($"{chosenBy} names {parent.Id.ToShortString()}, {Article(parent.Kind)} snapshot: the parent of {Article(run.Kind)} snapshot must be one too (give --parent none to start a new lineage{(chosenBy.StartsWith("--parent", StringComparison.Ordinal) ? "" : ", or another --tag")})");

    private static string Article(string kind) => kind == SnapshotRecord.ImageKind ? "an image" : $"a {kind}";

    // ---------------------------------------------------------------- stage 1: the walk

    /// <summary>
    /// Walks the tree depth-first, in name order, and appends its entries; files go to the readers in that order, which
    /// is the order the packer stores them in. It is the order <c>tar</c>, <c>find</c> and <c>cp -r</c> visit a tree,
    /// so a walk through a lazy mount reads the packs front to back, and the files of one directory (an npm package, a
    /// source folder) sit in few frames. A directory's children are appended together when it is reached, so they
    /// stay contiguous, after it; listings run ahead, several at once, as soon as their directory is appended. A plain
    /// snapshot takes every directory's listing as it is (the parent manifest only lets unchanged files go unread); an
    /// overlay snapshot merges each upper directory's listing with the base directory below it
    /// (<see cref="OverlayUpper.Merge"/>) and descends into base directories the upper one does not have without any I/O.
    /// </summary>
    private async Task WalkAsync(DirectoryHandle rootHandle, ManifestBuilder builder, Manifest? parent, ChannelWriter<FileJob> jobs, CancellationToken cancellationToken)
    {
        try
        {
            var walker = new TreeWalker(_options.ReadConcurrency, _io!, _options.SkipUnreadable, _skipped, _warnings, cancellationToken) { BeforeList = BeforeRead };
            var rootStat = LinuxFile.Stat(rootHandle.Descriptor);
            var root = builder.AddEntry(EntryFor(rootStat), [], SourceFor(rootStat));
            var rootXattrs = LinuxFile.ReadXattrs(rootHandle.Descriptor);
            builder.SetXattrs(root, InView(rootXattrs));
            var hardlinks = new Dictionary<(ulong Device, ulong Inode), int>();
            var readGroups = new HashSet<int>(); // the hard-linked files a job has been sent for

            // Overlay: the entry each base file (by its canonical entry) got in the new tree, so that base hardlinks
            // stay linked; one whose first name the upper directory replaced or deleted is stored in full instead.
            var baseLinks = new Dictionary<int, int>();

            // The directories being walked, innermost on top, each with its children still to visit. An explicit
            // stack, not recursion: a tree can be deeper than a thread's stack.
            var open = new Stack<PendingDirectory>();
            var rootMatch = parent is null || (_overlay is { } overlay && OverlayUpper.IsOpaqueRoot(rootXattrs, overlay)) ? -1 : 0;
            open.Push(await AppendChildrenAsync(new WalkItem(root, rootMatch, rootHandle, null)).ConfigureAwait(false));
            while (open.TryPeek(out var directory))
            {
                if (directory.Next == directory.Items.Count)
                {
                    open.Pop();
                    continue;
                }

                var item = directory.Items[directory.Next++];
                if (item.Job is { } job)
                {
                    // A hard-linked file is read through the first of its names sent to the readers; the others are
                    // read only if that name is found to be another file by then (PackAsync). The first sent is not
                    // always its first entry: a subdirectory's files are sent before the files after it in its parent,
                    // though they are appended after them.
                    if (job.Group >= 0 && !readGroups.Add(job.Group))
                    {
                        job = job with { Link = true };
                    }

                    await jobs.WriteAsync(job, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    open.Push(await AppendChildrenAsync(item).ConfigureAwait(false));
                }
            }

            // Appends the children of a directory reached by the walk; returns them, files as jobs, in name order.
            async Task<PendingDirectory> AppendChildrenAsync(WalkItem directory)
            {
                var children = directory.Handle is null ? [] : await walker.ListAsync(directory.Handle).ConfigureAwait(false);
                if (directory.Handle is { LeftOut: true })
                {
                    // Gone since it was listed, or skipped (the walker said which): not in the snapshot, nor anything
                    // an overlay's base has below it.
                    builder.LeaveOut(directory.Entry);
                    directory.Handle.Release();
                    return new PendingDirectory([]);
                }

                var merged = _overlay is { } flavor
                    ? (directory.Handle is null ? BaseChildren(parent!, directory.ParentMatch) : OverlayUpper.Merge(directory.Handle, children, parent!, directory.ParentMatch, flavor))
                    : children.ConvertAll(c => new MergedChild(c, directory.ParentMatch >= 0 ? parent!.Lookup(directory.ParentMatch, c.Name) : -1));
                var first = builder.EntryCount;
                var items = new List<WalkItem>();
                foreach (var child in merged)
                {
                    if (child.Listed is { } listed)
                    {
                        AddListed(directory.Handle!, listed, child.Parent, items);
                    }
                    else
                    {
                        AddFromBase(child.Parent, items);
                    }
                }

                // Listings of the subdirectories on disk (most already listed ahead), asked for last name first: the
                // walker takes the last asked first, so they come in the order the walk reaches them. Reaching one
                // asks again and gets the same listing.
                for (var i = items.Count - 1; i >= 0; i--)
                {
                    if (items[i] is { Job: null, Handle: { } subdirectory })
                    {
                        _ = walker.ListAsync(subdirectory);
                    }
                }

                ref var d = ref builder.Entry(directory.Entry);
                d.First = (uint)first;
                d.Count = (uint)(builder.EntryCount - first);
                directory.Handle?.Release(); // each job holds its own reference
                return new PendingDirectory(items);
            }

            void AddListed(DirectoryHandle handle, ChildInfo child, int match, List<WalkItem> items)
            {
                var kind = KindOf(child.Stat.Kind);
                if (kind is null)
                {
                    _warnings.Enqueue($"skipped socket '{Manifest.Display(handle.PathOf(child.Name))}'");
                    return;
                }

                var entry = EntryFor(child.Stat);
                switch (kind)
                {
                    case EntryKind.Symlink:
                        entry.First = builder.AddString(child.LinkTarget);
                        entry.Size = child.LinkTarget!.Length;
                        break;
                    case EntryKind.Regular when child.Stat.LinkCount > 1 && hardlinks.TryGetValue((child.Stat.Device, child.Stat.Inode), out var target):
                        entry = entry with { Kind = EntryKind.Hardlink, First = (uint)target, Size = 0 };
                        break;
                    case EntryKind.CharDevice or EntryKind.BlockDevice:
                        entry.First = (uint)child.Stat.RDevice;
                        entry.Count = (uint)(child.Stat.RDevice >> 32);
                        break;
                }

                var index = builder.AddEntry(entry, child.Name, SourceFor(child.Stat));
                builder.SetXattrs(index, InView(child.Xattrs));
                if (entry.Kind is EntryKind.Regular or EntryKind.Hardlink)
                {
                    // Each name of a hard-linked file gets a job: the names are grouped by the inode listed, and the
                    // file may be at none, some or all of them by the time it is read.
                    var group = -1;
                    if (entry.Kind == EntryKind.Hardlink)
                    {
                        group = (int)entry.First;
                    }
                    else if (child.Stat.LinkCount > 1)
                    {
                        hardlinks[(child.Stat.Device, child.Stat.Inode)] = index;
                        group = index;
                    }

                    // An overlay's upper file is new or changed by definition: read it.
                    items.Add(WalkItem.For(FileJobFor(index, handle, child.Name, child.Stat, parent, _overlay is null ? match : -1, group)));
                }
                else if (child.Subdirectory is not null)
                {
                    var parentMatch = match >= 0 && parent!.Entries[match].Kind == EntryKind.Directory ? match : -1;
                    items.Add(new WalkItem(index, parentMatch, child.Subdirectory, null));
                }
            }

            void AddFromBase(int b, List<WalkItem> items)
            {
                var name = parent!.NameOf(b);
                var canonical = parent.Canonical(b);
                var e = parent.Entries[canonical];
                var entry = CopyOf(e);
                var source = parent.Sources?[b] ?? default;
                switch (e.Kind)
                {
                    case EntryKind.Regular when baseLinks.TryGetValue(canonical, out var target):
                        entry = entry with { Kind = EntryKind.Hardlink, First = (uint)target, Count = 0, Size = 0 };
                        builder.AddEntry(entry, name, source);
                        return;
                    case EntryKind.Regular:
                        var file = builder.AddEntry(entry, name, source);
                        baseLinks[canonical] = file;
                        items.Add(WalkItem.For(BaseFileJob(file, canonical, e.Size)));
                        return;
                    case EntryKind.Directory:
                        var subdirectory = builder.AddEntry(entry, name, source);
                        builder.SetXattrs(subdirectory, XattrsOf(parent, b));
                        items.Add(new WalkItem(subdirectory, b, null, null));
                        return;
                    case EntryKind.Symlink:
                        entry.First = builder.AddString(parent.SymlinkTarget(b));
                        break;
                }

                builder.SetXattrs(builder.AddEntry(entry, name, source), XattrsOf(parent, b));
            }
        }
        finally
        {
            jobs.TryComplete();
        }
    }

    /// <summary>
    /// A child the walk has appended and will visit: a file to hand to the readers (<see cref="Job"/>), or a directory
    /// to descend into (its entry, its entry in the parent manifest or -1, its handle if it is on disk).
    /// </summary>
    private sealed record WalkItem(int Entry, int ParentMatch, DirectoryHandle? Handle, FileJob? Job)
    {
        public static WalkItem For(FileJob job) => new(job.Entry, -1, null, job);
    }

    /// <summary>A directory of the walk's path: its children, and how many of them have been visited.</summary>
    private sealed class PendingDirectory(List<WalkItem> items)
    {
        public List<WalkItem> Items { get; } = items;

        public int Next { get; set; }
    }

    /// <summary>The children of a base directory the upper directory does not have: all taken from the base as they are.</summary>
    private static List<MergedChild> BaseChildren(Manifest parent, int directory)
    {
        ref readonly var d = ref parent.Entries[directory];
        var children = new List<MergedChild>((int)d.Count);
        for (var b = (int)d.First; b < d.First + d.Count; b++)
        {
            children.Add(new MergedChild(null, b));
        }

        return children;
    }

    /// <summary>
    /// Xattrs read from disk as the snapshot stores them: as they are, or, from an overlay's upper directory, as its
    /// merged view has them (the overlay's own marks left out, escaped names unescaped). A base entry's xattrs are never
    /// passed through this: they are the base's data, whatever their names.
    /// </summary>
    private List<KeyValuePair<byte[], byte[]>>? InView(List<KeyValuePair<byte[], byte[]>>? xattrs) =>
        _overlay is { } flavor ? OverlayXattrs.View(xattrs, flavor) : xattrs;

    /// <summary>The "walk" of an image snapshot: a root directory, the images as its entries.</summary>
    private async Task ListImagesAsync(ImageSet images, ManifestBuilder builder, Manifest? parent, ChannelWriter<FileJob> jobs, CancellationToken cancellationToken)
    {
        try
        {
            var root = builder.AddEntry(images.RootEntry(), [], default);
            var first = builder.EntryCount;
            foreach (var image in images.Images)
            {
                var index = builder.AddEntry(EntryFor(image.Stat), image.Name, SourceFor(image.Stat));
                builder.SetXattrs(index, image.Xattrs);
                var match = parent?.Lookup(0, image.Name) ?? -1;
                await jobs.WriteAsync(FileJobFor(index, image.Directory, image.FileName, image.Stat, parent, match), cancellationToken).ConfigureAwait(false);
            }

            ref var d = ref builder.Entry(root);
            d.First = (uint)first;
            d.Count = (uint)(builder.EntryCount - first);
        }
        finally
        {
            jobs.TryComplete();
        }
    }

    /// <summary>
    /// The "walk" of an image snapshot of a writable mount: a root directory, and as its entries the images of the
    /// merged view (<see cref="OverlayImages.Merge"/>). Sets the run's paths: the images' paths in the mount.
    /// </summary>
    private async Task ListOverlayImagesAsync(OverlayImages images, Run run, ManifestBuilder builder, Manifest parent, ChannelWriter<FileJob> jobs, CancellationToken cancellationToken)
    {
        DirectoryHandle? mergedView = null;
        try
        {
            var merged = images.Merge(parent);
            if (merged.Count == 0)
            {
                throw new UsageException($"'{images.MountPoint}' holds no image: every image of snapshot {run.Base!.Id.ToShortString()} was deleted in it, and an image snapshot holds at least one");
            }

            // The root as ImageSet.RootEntry derives it from the images: what they are before they are read.
            var metadata = merged.ConvertAll(c => c.Listed is { } l ? (l.Stat.Uid, l.Stat.Gid, l.Stat.MTimeNs) : (parent.Entries[c.Parent].Uid, parent.Entries[c.Parent].Gid, parent.Entries[c.Parent].MTimeNs));
            var root = builder.AddEntry(ImageSet.RootEntry(metadata[0].Uid, metadata[0].Gid, metadata.Max(i => i.MTimeNs)), [], default);
            var first = builder.EntryCount;
            var paths = new List<string>(merged.Count);
            foreach (var child in merged)
            {
                FileJob job;
                if (child.Listed is { } listed)
                {
                    // Changed (copied up) or new: read from the upper copy, not through the mount. It is the same file
                    // (the merged view of a copied-up file is that file), and complete: the overlay copies a file's
                    // data up whole (no metacopy). Read directly, it is a local file that reports its holes
                    // (SEEK_DATA), not one that goes through overlayfs and then the mount's FUSE server.
                    var index = builder.AddEntry(EntryFor(listed.Stat), listed.Name, SourceFor(listed.Stat));
                    job = FileJobFor(index, images.Upper, listed.Name, listed.Stat, parent, parent.Lookup(0, listed.Name), changed: true);
                }
                else
                {
                    job = UntouchedImage(child.Parent);
                }

                paths.Add(Path.Combine(images.MountPoint, Encoding.UTF8.GetString(builder.NameOf(job.Entry))));
                await jobs.WriteAsync(job, cancellationToken).ConfigureAwait(false);
            }

            ref var d = ref builder.Entry(root);
            d.First = (uint)first;
            d.Count = (uint)(builder.EntryCount - first);
            run.Paths = paths;
            run.Source = string.Join(' ', paths);
        }
        finally
        {
            mergedView?.Release();
            jobs.TryComplete();
        }

        // An image the upper directory does not hold: the base's, taken over unread as an unchanged image is, unless
        // it must be stored again (--relayout, or its parent version past the bound). Then it is read through the
        // mount's merged view: its bytes are nowhere else outside the repository.
        FileJob UntouchedImage(int b)
        {
            var e = parent.Entries[b];
            var name = parent.NameOf(b).ToArray();
            if (e.Kind != EntryKind.Regular)
            {
                throw new CairnException($"snapshot {run.Base!.Id.ToShortString()} is an image snapshot with an entry '{Manifest.Display(name)}' that is not a regular file");
            }

            var index = builder.AddEntry(CopyOf(e), name, parent.Sources?[b] ?? default);
            builder.SetXattrs(index, XattrsOf(parent, b));
            if (!_options.Relayout && !PastTheBound(parent, b, unchanged: true))
            {
                return BaseFileJob(index, b, e.Size);
            }

            mergedView ??= new DirectoryHandle(OpenMergedView(images.MountPoint), Encoding.UTF8.GetBytes(images.MountPoint));
            return ReadJob(index, mergedView, name, StatMerged(mergedView, name), unchanged: -1, again: true);
        }
    }

    private static FileDescriptor OpenMergedView(string mountPoint)
    {
        try
        {
            return LinuxFile.OpenDirectory(mountPoint);
        }
        catch (LinuxIOException e)
        {
            throw new CairnException($"cannot read '{mountPoint}': {e.Message}", e);
        }
    }

    private static StatxInfo StatMerged(DirectoryHandle mergedView, byte[] name)
    {
        try
        {
            return LinuxFile.Stat(mergedView.Descriptor, name);
        }
        catch (LinuxIOException e)
        {
            throw new CairnException($"cannot read '{Manifest.Display(mergedView.PathOf(name))}': {e.Message}", e);
        }
    }

    /// <summary>
    /// The readers' job for a regular file, or a name of one (it holds a reference to its directory);
    /// <paramref name="match"/> is its entry in the parent, or -1; <paramref name="group"/> the first entry of the
    /// hard-linked file it is a name of, or -1. A file <paramref name="changed"/> (an overlay's upper copy) is read
    /// whatever its metadata says; the parent's version of it is still what the bound weighs.
    /// </summary>
    private FileJob FileJobFor(int entry, DirectoryHandle directory, byte[] name, in StatxInfo stat, Manifest? parent, int match, int group = -1, bool changed = false)
    {
        // A name that was another name of a file in the parent is compared with that file, whose data it had.
        match = match >= 0 ? parent!.Canonical(match) : -1;
        var unchanged = !changed && match >= 0 && !_options.Relayout && IsUnchanged(parent!, match, stat);
        var again = _options.Relayout || (match >= 0 && PastTheBound(parent!, match, unchanged));
        return ReadJob(entry, directory, name, stat, unchanged && !again ? match : -1, again, group);
    }

    /// <summary>
    /// The readers' job for a file on disk: read, unless <paramref name="unchanged"/> names its entry in the parent to
    /// take it from unread (else -1); <paramref name="group"/> as for <see cref="FileJobFor"/>.
    /// </summary>
    private FileJob ReadJob(int entry, DirectoryHandle directory, byte[] name, in StatxInfo stat, int unchanged, bool again, int group = -1)
    {
        if (group < 0 || group == entry)
        {
            // Counted as listed, for the progress line; the record counts the manifest's entries.
            Interlocked.Increment(ref _files);
            Interlocked.Add(ref _bytes, stat.Size);
        }

        directory.AddReference();
        return new FileJob(entry, directory, name, stat, unchanged) { StoreAgain = again, Group = group };
    }

    /// <summary>The job for a file taken from the base manifest (its entry <paramref name="canonical"/>) as it is, never read: it is not on disk.</summary>
    private FileJob BaseFileJob(int entry, int canonical, long size)
    {
        Interlocked.Increment(ref _files);
        Interlocked.Add(ref _bytes, size);
        return new FileJob(entry, null, [], default, canonical);
    }

    /// <summary>A base entry for the new manifest: its metadata and content, not its places in the base's tables (name, xattrs).</summary>
    private static EntryRecord CopyOf(in EntryRecord e) =>
        new() { Kind = e.Kind, Traits = e.Traits, Mode = e.Mode, Uid = e.Uid, Gid = e.Gid, MTimeNs = e.MTimeNs, Size = e.Size, First = e.First, Count = e.Count };

    /// <summary>
    /// Whether the parent's version of an image leaves more unused bytes than the bound for a child: in the frames and
    /// segments a child keeps if the child reads the image (the blocks in the others move), in all it touches if the
    /// image is taken over unread (nothing moves). If so the run relays the image out.
    /// </summary>
    private bool PastTheBound(Manifest parent, int match, bool unchanged)
    {
        if (_inherited is null || !_inherited.TryGetValue(match, out var use))
        {
            return false;
        }

        var bound = _options.RelayoutAbove!.Value;
        var unused = unchanged ? use.UnusedBytes : use.KeptUnusedBytes;
        if (unused <= bound * use.Bytes)
        {
            return false;
        }

        _relayoutCauses.Enqueue(new RelayoutCause(Encoding.UTF8.GetString(parent.NameOf(match)), unused, use.Bytes, bound));
        return true;
    }

    private static bool IsUnchanged(Manifest parent, int match, in StatxInfo stat)
    {
        ref readonly var e = ref parent.Entries[match];
        if (e.Kind != EntryKind.Regular || parent.Sources is null)
        {
            return false;
        }

        var s = parent.Sources[match];
        return e.Size == stat.Size && e.MTimeNs == stat.MTimeNs && s.CTimeNs == stat.CTimeNs && s.Inode == stat.Inode;
    }

    private static EntryKind? KindOf(FileKind kind) => kind switch
    {
        FileKind.Regular => EntryKind.Regular,
        FileKind.Directory => EntryKind.Directory,
        FileKind.Symlink => EntryKind.Symlink,
        FileKind.Fifo => EntryKind.Fifo,
        FileKind.CharDevice => EntryKind.CharDevice,
        FileKind.BlockDevice => EntryKind.BlockDevice,
        _ => null,
    };

    private static EntryRecord EntryFor(in StatxInfo stat) => new()
    {
        Kind = KindOf(stat.Kind) ?? EntryKind.Regular,
        Mode = stat.Permissions,
        Uid = stat.Uid,
        Gid = stat.Gid,
        MTimeNs = stat.MTimeNs,
        Size = stat.Kind == FileKind.Regular ? stat.Size : 0,
    };

    private static SourceRecord SourceFor(in StatxInfo stat) => new() { CTimeNs = stat.CTimeNs, Inode = stat.Inode, Device = stat.Device };

    // ---------------------------------------------------------------- stages 2 and 3: read in parallel, pack in order

    private async Task PackAsync(ChannelReader<FileJob> jobs, ManifestBuilder builder, ChunkIndex index, PackWriter writer, Manifest? parent, Dictionary<int, FileResult> results, CancellationToken cancellationToken)
    {
        using var ring = new ReadRing((int)Math.Min(_options.ReadAheadBytes, int.MaxValue), WholeFileLimit);
        using var readers = new SemaphoreSlim(_options.ReadConcurrency);
        var ordered = Channel.CreateBounded<(FileJob Job, Task<FileContent?>? Content, RingSlice Slice)>(new BoundedChannelOptions(1024) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // The dispatcher starts reads in walk order, each after taking its bytes from the budget.
        var dispatcher = Task.Run(async () =>
        {
            try
            {
                await foreach (var job in jobs.ReadAllAsync(stop.Token).ConfigureAwait(false))
                {
                    Task<FileContent?>? content = null;
                    var slice = default(RingSlice);
                    if (job.Unchanged < 0 && !job.Link && job.Stat.Size <= WholeFileLimit)
                    {
                        slice = await ring.AcquireAsync((int)job.Stat.Size, stop.Token).ConfigureAwait(false);
                        await readers.WaitAsync(stop.Token).ConfigureAwait(false);

                        // Not cancellable once queued: every read that holds a reader slot runs and gives it back,
                        // which is how the end of this method knows no read into the ring is left.
                        content = _io!.Run(() =>
                        {
                            try
                            {
                                return ReadOrSkip(job, slice.Memory);
                            }
                            finally
                            {
                                readers.Release();
                            }
                        }, CancellationToken.None);
                    }

                    await ordered.Writer.WriteAsync((job, content, slice), stop.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e)
            {
                ordered.Writer.TryComplete(e);
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                ordered.Writer.TryComplete();
            }
        }, stop.Token);

        try
        {
            await ConsumeAsync().ConfigureAwait(false);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            await dispatcher.ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);

            // Wait for reads still running (after a failure) before the ring they read into is unmapped.
            for (var i = 0; i < _options.ReadConcurrency; i++)
            {
                await readers.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }

        if (dispatcher.IsFaulted)
        {
            await dispatcher.ConfigureAwait(false);
        }

        async Task ConsumeAsync()
        {
            var refs = new List<(long Offset, ContentId Id, ChunkSlot Slot)>();
            await foreach (var (job, content, slice) in ordered.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                try
                {
                    refs.Clear();
                    _storeAgain = job.StoreAgain;
                    LinkGroup? group = null;
                    if (job.Group >= 0)
                    {
                        group = CollectionsMarshal.GetValueRefOrAddDefault(_linkGroups, job.Group, out _) ??= new LinkGroup();
                        if (job.Link && group.File is not null)
                        {
                            // Another name of a file read through an earlier one: taken as the name listed, unread.
                            group.Names.Add(job.Entry);
                            continue;
                        }
                    }

                    FileResult? result;
                    if (job.Unchanged >= 0)
                    {
                        result = ReuseFromParent(job, parent!, index, refs);
                        Interlocked.Increment(ref _unchanged);
                    }
                    else if (content is not null)
                    {
                        var data = await content.ConfigureAwait(false);
                        result = data is null ? null
                            : data.Stat.Kind == FileKind.Regular ? await PackContentAsync(data, index, writer, refs, NewTrial()).ConfigureAwait(false)
                            : NotAFile(job, data.Stat, data.Xattrs);
                        ring.Release(slice); // the chunks are copied into frames: the slice is free again
                    }
                    else
                    {
                        // A large file; or the name of a hard-linked file whose names read before it were other files
                        // by then, read now: that is rare, and streaming reads a file of any size.
                        result = await StreamLargeFileAsync(job, index, writer, refs, NewTrial(), stop.Token).ConfigureAwait(false);
                    }

                    if (result is null)
                    {
                        // Left out: gone, no longer a file, or skipped as unreadable (a warning or the skipped list
                        // says which). Not recorded at all: an empty file would say the file was empty.
                        _leftOutFiles.Add(job.Entry);
                        continue;
                    }

                    result.RefStart = builder.ChunkRefCount;
                    result.RefCount = refs.Count;
                    foreach (var (offset, id, slot) in refs)
                    {
                        builder.AddChunkRef(offset, id, slot);
                        result.Covered += slot.Length;
                    }

                    Interlocked.Add(ref _chunks, refs.Count);
                    if (group is not null && IsListedFile(job, result))
                    {
                        // The hard-linked file itself: its data for all its names still grouped (WriteManifestAsync).
                        group.File = result;
                        group.Names.Add(job.Entry);
                    }
                    else
                    {
                        // A file of its own: also a name of a hard-linked file found to be another file when read,
                        // which is stored as that file, with its own metadata, out of the group.
                        results[job.Entry] = result;
                    }

                    // An image read (not one taken from the base of a mount unread: that job has no listing).
                    if (_trySegments && job.Directory is not null && result.Size != job.Stat.Size)
                    {
                        SizeChangedSinceListed(job, result.Size);
                    }
                }
                finally
                {
                    job.Directory?.Release();
                }
            }
        }
    }

    /// <summary>
    /// An image read at another size than it was listed at (replaced, truncated or extended in between, or while a
    /// read that was then retried saw it change): it is stored as read (the record's total follows the manifest), and
    /// said, since an image that changes size while it is snapshotted is seldom meant to (a VM left running). In a
    /// tree, a file that grows while it is snapshotted (a log) is common and not worth a line each time.
    /// </summary>
    private void SizeChangedSinceListed(FileJob job, long size)
    {
        _warnings.Enqueue($"'{Manifest.Display(job.Directory!.PathOf(job.Name))}' was {job.Stat.Size:N0} bytes when listed and {size:N0} when read: stored as read");
    }

    /// <summary>
    /// Reads a file whole, on a reader thread; null if it is left out (a warning or the skipped list says why). What
    /// it returns may not be a regular file any more (<see cref="NotAFile"/>).
    /// </summary>
    private FileContent? ReadOrSkip(FileJob job, Memory<byte> buffer)
    {
        BeforeRead?.Invoke(job.Directory!.PathOf(job.Name));
        FileContent content;
        try
        {
            content = FileContentReader.ReadWhole(job.Directory!, job.Name, _chunker, buffer);
        }
        catch (LinuxIOException e)
        {
            CannotRead(job, e);
            return null;
        }

        if (content.Changed)
        {
            KeptChanging(job);
        }

        return content;
    }

    /// <summary>
    /// A listed file that could not be opened or read. One that is gone (ENOENT), or whose name now holds a symlink
    /// (ELOOP: it is opened without following) or a socket (ENXIO), is no longer the file listed: left out. Any other
    /// failure makes it unreadable: an error, or with --skip-unreadable, left out and listed as skipped.
    /// </summary>
    private void CannotRead(FileJob job, LinuxIOException e)
    {
        switch (e.Errno)
        {
            case Errno.ENOENT:
                LeftOut(job, "was removed after it was listed");
                break;
            case Errno.ELOOP or Errno.ENXIO:
                LeftOut(job, $"was replaced after it was listed by something that is not a file ({e.Message})");
                break;
            default:
                Unreadable(job, e);
                break;
        }
    }

    /// <summary>
    /// The name of a listed file holds something else by the time it is opened to be read (it is opened without
    /// blocking, so a FIFO does not wait for a writer). A FIFO or a device is stored as such, from the descriptor
    /// opened (its xattrs as <see cref="InView"/> gives them), as a regular file put there would be: the name as it
    /// then was, out of any link group. A directory is
    /// left out (its contents were never listed), as is anything in an image run, which holds files only.
    /// </summary>
    private FileResult? NotAFile(FileJob job, in StatxInfo stat, List<KeyValuePair<byte[], byte[]>> xattrs)
    {
        if (!_trySegments && stat.Kind is FileKind.Fifo or FileKind.CharDevice or FileKind.BlockDevice)
        {
            return new FileResult(stat) { Xattrs = InView(xattrs) };
        }

        LeftOut(job, $"was replaced by {FileKinds.Describe(stat.Kind)} after it was listed");
        return null;
    }

    /// <summary>
    /// A listed file that is gone or no longer a file when it is read: left out with a warning, as it would be had its
    /// directory been listed a moment later. Not an error, with or without --skip-unreadable: the snapshot is true to
    /// a moment after it went. In an image run an error: the images were named one by one, and a snapshot without one
    /// is not what was asked for.
    /// </summary>
    private void LeftOut(FileJob job, string why)
    {
        var display = Manifest.Display(job.Directory!.PathOf(job.Name));
        if (_trySegments)
        {
            throw new CairnException($"'{display}' {why}");
        }

        _warnings.Enqueue($"'{display}' {why}: not in the snapshot");
    }

    /// <summary>
    /// An unreadable file: an error, or with --skip-unreadable left out and listed as skipped. An image is always an
    /// error, as one that went is (<see cref="LeftOut"/>): it was named on its own, and its snapshot is one of the set.
    /// </summary>
    private void Unreadable(FileJob job, LinuxIOException e)
    {
        var display = Manifest.Display(job.Directory!.PathOf(job.Name));
        if (_trySegments)
        {
            throw new CairnException($"cannot read '{display}': {e.Message}", e);
        }

        if (!_options.SkipUnreadable)
        {
            throw new CairnException($"cannot read '{display}': {e.Message} (use --skip-unreadable to continue without it)", e);
        }

        _skipped.Enqueue($"{display}: {e.Message}");
    }

    /// <summary>
    /// A file that changed during each of its reads (a log being written, a database): stored as last read, which may
    /// be torn, and said. Failing the snapshot for it would leave none at all; skipping it would leave it out.
    /// </summary>
    private void KeptChanging(FileJob job) =>
        _warnings.Enqueue($"'{Manifest.Display(job.Directory!.PathOf(job.Name))}' changed during each of {FileContentReader.Attempts} reads: stored as last read, which may be inconsistent");

    private static FileResult ReuseFromParent(FileJob job, Manifest parent, ChunkIndex index, List<(long, ContentId, ChunkSlot)> refs)
    {
        foreach (var r in parent.ChunkRefsOf(job.Unchanged))
        {
            // Where the parent has it (ParentLayout placed every chunk of the parent), or a copy of it made out of a
            // frame the parent mostly left (by this run, or by an interrupted one).
            var id = parent.Chunks[r.Chunk].Id;
            if (!index.TryGet(id, out var slot))
            {
                throw new InvalidOperationException($"chunk {id.ToShortString()} of the parent is not in the run's index");
            }

            // Referenced unread; should a file read later in the run copy it, the manifest names the copy for both.
            refs.Add((r.Offset, id, slot));
        }

        // A file taken from the base by reference keeps the base's metadata; an unchanged one gets its current stat.
        var xattrs = XattrsOf(parent, job.Unchanged);
        return job.Directory is null ? new FileResult(parent, job.Unchanged) { Xattrs = xattrs } : new FileResult(job.Stat) { Xattrs = xattrs };
    }

    /// <summary>An image's own segment trial, in an image run; a tree's files are compressed in whole frames.</summary>
    private SegmentTrial? NewTrial() => _trySegments ? new SegmentTrial() : null;

    private async ValueTask<FileResult> PackContentAsync(FileContent content, ChunkIndex index, PackWriter writer, List<(long, ContentId, ChunkSlot)> refs, SegmentTrial? trial)
    {
        Interlocked.Add(ref _bytesRead, content.Data.Length);
        Interlocked.Add(ref _zeroBytes, content.ZeroBytes);
        foreach (var piece in content.Chunks)
        {
            refs.Add((piece.FileOffset, piece.Id, await StoreChunkAsync(piece.Id, content.Data.Slice(piece.BufferOffset, piece.Length), index, writer, trial).ConfigureAwait(false)));
        }

        return new FileResult(content.Stat) { Size = content.Data.Length, Xattrs = InView(content.Xattrs) };
    }

    private async ValueTask<ChunkSlot> StoreChunkAsync(ContentId id, ReadOnlyMemory<byte> data, ChunkIndex index, PackWriter writer, SegmentTrial? trial)
    {
        // A known chunk of another length can only come from a damaged or forged manifest (a parent's, see
        // ParentLayout) or index: written again rather than referenced there, where a restore would find it wrong.
        var known = index.TryGet(id, out var slot) && slot.Length == data.Length;

        // One in a frame the parent has mostly left is stored again, next to this run's data, and in an image run any
        // other outside the frames it keeps (see ParentLayout); in a file relaid out, every one this run has not stored.
        // A chunk this run already stored (a copy, or a block two files share) is never stored twice.
        var own = (_fresh ?? _kept)?.IsOwn(slot) == true;
        if (known && _storeAgain && !own && _kept is { } kept && kept.Copies.Remove(id.IndexKey, out var copied))
        {
            index.Place(id, copied); // the copy an interrupted relayout made
            return copied;
        }

        var copy = known && !own && (_storeAgain || _movable?.Remove(id.IndexKey) == true || _kept?.Keeps(slot) == false);
        if (known && !copy)
        {
            return slot;
        }

        await writer.AddChunkAsync(id, data.Span, trial).ConfigureAwait(false);
        index.TryGet(id, out slot);
        if (copy)
        {
            Interlocked.Add(ref _rewrittenBytes, data.Length);
        }
        else
        {
            Interlocked.Increment(ref _newChunks);
            Interlocked.Add(ref _newBytes, data.Length);
        }

        return slot;
    }

    /// <summary>Large files are not read ahead whole: the packer streams them in segments, cutting and hashing as it goes.</summary>
    private async ValueTask<FileResult?> StreamLargeFileAsync(FileJob job, ChunkIndex index, PackWriter writer, List<(long, ContentId, ChunkSlot)> refs, SegmentTrial? trial, CancellationToken cancellationToken)
    {
        _readAhead ??= new ReadAhead(_chunker.MaxSize, _io!);
        BeforeRead?.Invoke(job.Directory!.PathOf(job.Name));
        for (var attempt = 1; ; attempt++)
        {
            refs.Clear();

            FileDescriptor fd;
            try
            {
                fd = FileContentReader.Open(job.Directory!, job.Name);
            }
            catch (LinuxIOException e)
            {
                CannotRead(job, e);
                return null;
            }

            using (fd)
            {
                var before = LinuxFile.Stat(fd);
                if (before.Kind != FileKind.Regular)
                {
                    return NotAFile(job, before, LinuxFile.ReadXattrs(fd));
                }

                var extents = FileContentReader.DataExtents(fd, before, _chunker.Alignment);
                bool complete;
                long zeroBytes, end;
                try
                {
                    (complete, zeroBytes, end) = await StreamExtentsAsync(fd, before, extents, index, writer, refs, trial, cancellationToken).ConfigureAwait(false);
                }
                catch (LinuxIOException e)
                {
                    Unreadable(job, e);
                    return null;
                }

                var after = LinuxFile.Stat(fd);
                var consistent = complete && FileContentReader.SameVersion(before, after);
                if (consistent || attempt == FileContentReader.Attempts)
                {
                    // Kept changing: stored as last read, up to where it was cut short if it got shorter (see
                    // FileContentReader.ReadWhole).
                    if (!consistent)
                    {
                        KeptChanging(job);
                    }

                    var size = complete ? before.Size : end;
                    Interlocked.Add(ref _bytesRead, size);
                    Interlocked.Add(ref _zeroBytes, zeroBytes);
                    return new FileResult(before) { Size = size, Xattrs = InView(LinuxFile.ReadXattrs(fd)) };
                }
            }
        }
    }

    /// <summary>
    /// Cuts and stores the segments <see cref="ReadAhead"/> delivers. A chunk that straddles two segments is completed
    /// by copying the uncut tail of one into the headroom in front of the next. Returns false if the file got shorter
    /// (the caller retries), the zero bytes elided, and the offset up to which the file was cut (the end of the last
    /// extent when complete).
    /// </summary>
    private async ValueTask<(bool Complete, long ZeroBytes, long End)> StreamExtentsAsync(FileDescriptor fd, StatxInfo stat, List<(long, long)> extents, ChunkIndex index, PackWriter writer, List<(long, ContentId, ChunkSlot)> refs, SegmentTrial? trial, CancellationToken cancellationToken)
    {
        var readAhead = _readAhead!;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var (segments, complete) = readAhead.Start(fd, stat, extents, stop.Token);
        var pieces = new List<ChunkPiece>();
        long zeroBytes = 0;
        Segment? previous = null;
        var tailStart = 0;
        var tail = 0;
        long end = 0;
        try
        {
            await foreach (var segment in segments.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                var start = readAhead.Headroom - tail;
                if (previous is { } p)
                {
                    p.Buffer.Span.Slice(tailStart, tail).CopyTo(segment.Buffer.Span[start..]);
                    readAhead.Return(p.Buffer);
                }

                var data = segment.Buffer.Memory.Slice(start, tail + segment.Length);
                pieces.Clear();
                var (used, zeros) = FileContentReader.Cut(_chunker, data.Span, segment.FileOffset - tail, start, segment.EndOfExtent, pieces);
                zeroBytes += zeros;
                foreach (var piece in pieces)
                {
                    refs.Add((piece.FileOffset, piece.Id, await StoreChunkAsync(piece.Id, segment.Buffer.Memory.Slice(piece.BufferOffset, piece.Length), index, writer, trial).ConfigureAwait(false)));
                }

                previous = segment;
                end = segment.FileOffset - tail + used;
                tailStart = start + used;
                tail = data.Length - used;
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await complete.ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            throw;
        }
        finally
        {
            if (previous is { } p)
            {
                readAhead.Return(p.Buffer);
            }
        }

        return (await complete.ConfigureAwait(false), zeroBytes, end);
    }

    private Timer? StartProgress(Stopwatch stopwatch)
    {
        if (_options.Progress is null)
        {
            return null;
        }

        return new Timer(_ => _options.Progress.Report(new SnapshotProgress(
            Interlocked.Read(ref _files), Interlocked.Read(ref _bytes), Interlocked.Read(ref _bytesRead), Interlocked.Read(ref _newBytes),
            _repository.Store.Statistics.BytesWritten)), null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250));
    }

    /// <summary>
    /// Runs a pipeline stage; when it fails, cancels the others at once, so none is left waiting on a channel or the
    /// byte budget that the failed stage would have drained.
    /// </summary>
    private static Task RunStage(Func<Task> stage, CancellationTokenSource pipeline) => Task.Run(async () =>
    {
        try
        {
            await stage().ConfigureAwait(false);
        }
        catch
        {
            await pipeline.CancelAsync().ConfigureAwait(false);
            throw;
        }
    });

    private static Exception Unwrap(params Task[] tasks)
    {
        // The first real failure, not the cancellations it caused in the other stage.
        var failures = tasks.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).ToList();
        return failures.FirstOrDefault(e => e is not OperationCanceledException) ?? failures.FirstOrDefault() ?? new OperationCanceledException();
    }

    /// <summary>
    /// What a run records: its kind and source, and which earlier snapshots count as "the same source" for an
    /// automatic parent; or a fixed <see cref="Base"/> (an overlay's), which is the parent.
    /// </summary>
    private sealed class Run(string kind, Func<SnapshotRecord, bool> isSameSource)
    {
        public string Kind { get; } = kind;

        public Func<SnapshotRecord, bool> IsSameSource { get; } = isSameSource;

        /// <summary>Settable: a run over a mount of images knows its images, so its paths, only once it has merged the upper directory with the base.</summary>
        public required string Source { get; set; }

        public IReadOnlyList<string>? Paths { get; set; }

        public SnapshotRecord? Base { get; init; }
    }

    /// <summary>
    /// A regular file for the packer: read from <see cref="Directory"/>, or, with <see cref="Unchanged"/> its entry in
    /// the parent manifest, taken from there unread. Without a directory it is not on disk at all: an overlay
    /// snapshot's file that only the base has.
    /// </summary>
    private sealed record FileJob(int Entry, DirectoryHandle? Directory, byte[] Name, StatxInfo Stat, int Unchanged)
    {
        /// <summary>A relayout of this file: it is read, and every chunk of it stored again unless this run already did.</summary>
        public bool StoreAgain { get; init; }

        /// <summary>For a name of a hard-linked file: the file's first entry, which names its <see cref="LinkGroup"/>; else -1.</summary>
        public int Group { get; init; } = -1;

        /// <summary>
        /// Not the first name of its hard-linked file sent to the readers: not read ahead, and read at all only if no
        /// name read before it was still the file listed.
        /// </summary>
        public bool Link { get; init; }
    }

    /// <summary>
    /// A hard-linked file of the tree: the walk groups names by the inode it listed. <see cref="File"/> is the file's
    /// data and metadata, read through one of its names that was still that inode when read (checked on the open
    /// descriptor), or taken from the parent; <see cref="Names"/> the entries that name it in the snapshot: that one
    /// and those sent after it, unread. A name read before it and found to be another file (replaced since it was
    /// listed) is stored as that file instead, out of the group, so that no name gets another file's data. Names not
    /// read are taken as listed, as a file's metadata is.
    /// </summary>
    private sealed class LinkGroup
    {
        public FileResult? File { get; set; }

        public List<int> Names { get; } = [];
    }

    /// <summary>Whether a read found the file the job's name was listed as (device and inode, a regular file), not another put there since.</summary>
    private static bool IsListedFile(FileJob job, FileResult result) =>
        result.Kind == EntryKind.Regular && result.Source.Inode == job.Stat.Inode && result.Source.Device == job.Stat.Device;

    private static List<KeyValuePair<byte[], byte[]>>? XattrsOf(Manifest manifest, int entry)
    {
        var xattrs = manifest.XattrsOf(entry);
        if (xattrs.IsEmpty)
        {
            return null;
        }

        var list = new List<KeyValuePair<byte[], byte[]>>(xattrs.Length);
        foreach (var x in xattrs)
        {
            list.Add(new(manifest.StringAt(x.NameOffset, x.NameLength).ToArray(), manifest.StringAt(x.ValueOffset, x.ValueLength).ToArray()));
        }

        return list;
    }

    /// <summary>
    /// What the packer found for a file: its entry's metadata, all of it from the descriptor the file was read through
    /// (a file replaced since it was listed is stored with its own), and its chunks.
    /// </summary>
    private sealed class FileResult
    {
        public FileResult(in StatxInfo stat)
        {
            Kind = KindOf(stat.Kind) ?? EntryKind.Regular;
            Mode = stat.Permissions;
            Uid = stat.Uid;
            Gid = stat.Gid;
            Size = stat.Kind == FileKind.Regular ? stat.Size : 0;
            MTimeNs = stat.MTimeNs;
            RDevice = stat.RDevice;
            Source = SourceFor(stat);
        }

        /// <summary>A file as the parent manifest has it (entry <paramref name="entry"/>).</summary>
        public FileResult(Manifest parent, int entry)
        {
            ref readonly var e = ref parent.Entries[entry];
            Kind = EntryKind.Regular;
            Mode = e.Mode;
            Uid = e.Uid;
            Gid = e.Gid;
            Size = e.Size;
            MTimeNs = e.MTimeNs;
            Source = parent.Sources?[entry] ?? default;
        }

        public EntryKind Kind { get; }

        public uint Mode { get; }

        public uint Uid { get; }

        public uint Gid { get; }

        /// <summary>The device a device file stands for.</summary>
        public ulong RDevice { get; }

        /// <summary>The size recorded: the file's, or what was read of one that kept changing and got shorter.</summary>
        public long Size { get; init; }

        public long MTimeNs { get; }

        public SourceRecord Source { get; }

        /// <summary>
        /// The file's xattrs: read from the descriptor its content was read through, or the parent's for an unchanged
        /// file (changing an xattr changes the ctime, so an unchanged file has the parent's).
        /// </summary>
        public List<KeyValuePair<byte[], byte[]>>? Xattrs { get; init; }

        /// <summary>Bytes the chunk references cover: less than the size means holes (<see cref="EntryTraits.Sparse"/>).</summary>
        public long Covered { get; set; }

        public int RefStart { get; set; }

        public int RefCount { get; set; }
    }
}
