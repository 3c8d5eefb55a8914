using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Numerics;
using System.Threading.Channels;
using Cairn.Chunking;
using Cairn.Diagnostics;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Storage;

namespace Cairn.Snapshot;

/// <summary>
/// Snapshots a directory tree into a repository. Three stages run at once:
/// <list type="number">
/// <item>the walk lists directories breadth-first (several at a time) and appends entries to the manifest;</item>
/// <item>readers read, cut and hash files in parallel, in walk order, within a byte budget;</item>
/// <item>one packer takes the files in order, looks every chunk up in the index and hands new ones to the
/// <see cref="PackWriter"/>, which compresses frames in parallel and uploads packs.</item>
/// </list>
/// Then the index object, the manifest and the snapshot record are written, in that order, so an interrupted run
/// leaves no visible snapshot and a re-run reuses every pack already written.
/// </summary>
public sealed class Archiver
{
    // Larger files are streamed by the packer instead of read ahead whole: keeps pooled buffers (and RSS) small.
    private const int WholeFileLimit = 1 << 20;

    private readonly Repository.Repository _repository;
    private readonly SnapshotOptions _options;
    private readonly FastCdc _chunker;
    private readonly ConcurrentQueue<string> _skipped = new();
    private readonly ConcurrentQueue<string> _warnings = new();

    private long _files;
    private long _directories;
    private long _symlinks;
    private long _others;
    private long _bytes;
    private long _bytesRead;
    private long _newBytes;
    private long _chunks;
    private long _newChunks;
    private long _unchanged;
    private byte[]? _streamBuffer;

    public Archiver(Repository.Repository repository, SnapshotOptions? options = null)
    {
        _repository = repository;
        _options = options ?? new SnapshotOptions();
        _chunker = new FastCdc(repository.Config.ChunkerParameters);
    }

    public async Task<SnapshotResult> SnapshotAsync(string path, CancellationToken cancellationToken = default)
    {
        var stopwatch = Stopwatch.StartNew();
        var source = Path.GetFullPath(path);
        FileDescriptor rootFd;
        try
        {
            rootFd = LinuxFile.OpenDirectory(source);
        }
        catch (LinuxIOException e)
        {
            throw new UsageException($"cannot snapshot '{source}': {e.Message}");
        }

        PhaseTrace.Mark("snapshot: start");
        var parent = await ResolveParentAsync(source, cancellationToken).ConfigureAwait(false);
        PhaseTrace.Mark("snapshot: parent resolved");
        var parentManifest = parent is null ? null : await _repository.ReadManifestAsync(parent, cancellationToken).ConfigureAwait(false);
        PhaseTrace.Mark("snapshot: parent manifest loaded");
        var index = await _repository.LoadIndexAsync(cancellationToken).ConfigureAwait(false);
        PhaseTrace.Mark($"snapshot: index loaded ({index.ChunkCount} chunks)");
        var builder = new ManifestBuilder();
        var results = new Dictionary<int, FileResult>();
        var storedBefore = _repository.Store.Statistics.BytesWritten;

        using var progressTimer = StartProgress(stopwatch);
        await using (var writer = new PackWriter(_repository, index, cancellationToken))
        {
            var jobs = Channel.CreateBounded<FileJob>(new BoundedChannelOptions(4096) { SingleReader = true, SingleWriter = true });
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var walk = RunStage(() => WalkAsync(rootFd, source, builder, parentManifest, jobs.Writer, linked.Token), linked);
            var pack = RunStage(() => PackAsync(jobs.Reader, builder, index, writer, parentManifest, results, linked.Token), linked);
            await Task.WhenAll(walk, pack).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            if (walk.IsFaulted || pack.IsFaulted || walk.IsCanceled || pack.IsCanceled)
            {
                // Rethrow the first real failure with its own stack trace, not the cancellations it caused.
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(Unwrap(walk, pack));
            }

            PhaseTrace.Mark("snapshot: walk and packing done");
            await writer.FlushAsync().ConfigureAwait(false);
            PhaseTrace.Mark("snapshot: packs flushed");
            var indexed = writer.WrittenPacks.Concat(index.RecoveredPacks).ToList();
            if (indexed.Count > 0)
            {
                var indexBytes = IndexFile.Encode(indexed, _repository.Config.CompressionLevel);
                await _repository.Store.PutAsync(ObjectKeys.Index(ContentId.Hash(indexBytes)), indexBytes, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }

        foreach (var (entry, result) in results)
        {
            ref var e = ref builder.Entry(entry);
            e.First = (uint)result.RefStart;
            e.Count = (uint)result.RefCount;
            e.Size = result.Size;
            e.MTimeNs = result.Stat.MTimeNs;
            e.Traits = result.Sparse ? EntryTraits.Sparse : EntryTraits.None;
            builder.SetXattrs(entry, result.Xattrs);
            builder.Source(entry) = new SourceRecord { CTimeNs = result.Stat.CTimeNs, Inode = result.Stat.Inode, Device = result.Stat.Device };
        }

        PhaseTrace.Mark("snapshot: index written");
        var manifest = builder.Build(index);
        var manifestBytes = ManifestCodec.Encode(manifest, _repository.Config.CompressionLevel);
        var manifestKey = ObjectKeys.Manifest(manifest.TreeHash);
        if (await _repository.Store.TryGetSizeAsync(manifestKey, cancellationToken).ConfigureAwait(false) is null)
        {
            await _repository.Store.PutAsync(manifestKey, manifestBytes, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        PhaseTrace.Mark("snapshot: manifest written");
        var stats = new SnapshotStats
        {
            Files = _files,
            Directories = _directories,
            Symlinks = _symlinks,
            Others = _others,
            Bytes = _bytes,
            BytesRead = _bytesRead,
            NewBytes = _newBytes,
            Chunks = _chunks,
            NewChunks = _newChunks,
            UnchangedFiles = _unchanged,
            StoredBytes = _repository.Store.Statistics.BytesWritten - storedBefore,
            Seconds = Math.Round(stopwatch.Elapsed.TotalSeconds, 3),
        };
        var record = new SnapshotRecord
        {
            Tree = manifest.TreeHash.ToString(),
            Parent = parent?.Id.ToString(),
            Time = DateTimeOffset.UtcNow,
            Host = _options.Host ?? Environment.MachineName,
            User = Environment.UserName,
            Source = source,
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
        return new SnapshotResult(record, [.. _skipped], [.. _warnings]);
    }

    private async Task<SnapshotRecord?> ResolveParentAsync(string source, CancellationToken cancellationToken)
    {
        foreach (var tag in _options.Tags)
        {
            if (!Repository.Repository.IsValidTagName(tag))
            {
                throw new UsageException($"invalid tag name '{tag}': use letters, digits, '.', '_' and '-' (not a 64-digit hex id)");
            }
        }

        if (_options.Parent is null)
        {
            return null;
        }

        if (_options.Parent != "auto")
        {
            return await _repository.ResolveAsync(_options.Parent, cancellationToken).ConfigureAwait(false);
        }

        if (_options.Tags.Count > 0)
        {
            var tag = await _repository.TryReadTagAsync(_options.Tags[0], cancellationToken).ConfigureAwait(false);
            if (tag is not null)
            {
                return await _repository.ReadSnapshotAsync(ContentId.Parse(tag.Snapshot), cancellationToken).ConfigureAwait(false);
            }
        }

        var snapshots = await _repository.ListSnapshotsAsync(cancellationToken).ConfigureAwait(false);
        return snapshots.LastOrDefault(s => s.Kind == "tree" && s.Source == source);
    }

    // ---------------------------------------------------------------- stage 1: the walk

    private async Task WalkAsync(FileDescriptor rootFd, string source, ManifestBuilder builder, Manifest? parent, ChannelWriter<FileJob> jobs, CancellationToken cancellationToken)
    {
        try
        {
            using var walker = new TreeWalker(_options.ReadConcurrency, _options.SkipUnreadable, _skipped);
            var rootStat = LinuxFile.Stat(rootFd);
            var root = builder.AddEntry(EntryFor(rootStat), [], SourceFor(rootStat));
            builder.SetXattrs(root, LinuxFile.ReadXattrs(rootFd));
            Interlocked.Increment(ref _directories);

            var rootHandle = new DirectoryHandle(rootFd, []);
            var queue = new Queue<(int Entry, int ParentMatch, DirectoryHandle Handle, Task<List<ChildInfo>> Listing)>();
            queue.Enqueue((root, parent is null ? -1 : 0, rootHandle, walker.ListAsync(rootHandle, cancellationToken)));
            var hardlinks = new Dictionary<(ulong Device, ulong Inode), int>();

            while (queue.TryDequeue(out var directory))
            {
                var children = await directory.Listing.ConfigureAwait(false);
                var first = builder.EntryCount;
                foreach (var child in children)
                {
                    var kind = KindOf(child.Stat.Kind);
                    if (kind is null)
                    {
                        _warnings.Enqueue($"skipped socket '{Manifest.Display(directory.Handle.PathOf(child.Name))}'");
                        continue;
                    }

                    var entry = EntryFor(child.Stat);
                    var match = directory.ParentMatch >= 0 ? parent!.Lookup(directory.ParentMatch, child.Name) : -1;
                    switch (kind)
                    {
                        case EntryKind.Symlink:
                            entry.First = builder.AddString(child.LinkTarget);
                            entry.Size = child.LinkTarget!.Length;
                            Interlocked.Increment(ref _symlinks);
                            break;
                        case EntryKind.Regular when child.Stat.LinkCount > 1 && hardlinks.TryGetValue((child.Stat.Device, child.Stat.Inode), out var target):
                            entry = entry with { Kind = EntryKind.Hardlink, First = (uint)target, Size = 0 };
                            break;
                        case EntryKind.CharDevice or EntryKind.BlockDevice:
                            entry.First = (uint)child.Stat.RDevice;
                            entry.Count = (uint)(child.Stat.RDevice >> 32);
                            Interlocked.Increment(ref _others);
                            break;
                        case EntryKind.Fifo:
                            Interlocked.Increment(ref _others);
                            break;
                    }

                    var index = builder.AddEntry(entry, child.Name, SourceFor(child.Stat));
                    builder.SetXattrs(index, child.Xattrs);
                    if (entry.Kind == EntryKind.Regular)
                    {
                        if (child.Stat.LinkCount > 1)
                        {
                            hardlinks[(child.Stat.Device, child.Stat.Inode)] = index;
                        }

                        Interlocked.Increment(ref _files);
                        Interlocked.Add(ref _bytes, child.Stat.Size);
                        var unchanged = match >= 0 && IsUnchanged(parent!, match, child.Stat) ? match : -1;
                        directory.Handle.AddReference();
                        await jobs.WriteAsync(new FileJob(index, directory.Handle, child.Name, child.Stat, unchanged), cancellationToken).ConfigureAwait(false);
                    }
                    else if (child.Subdirectory is not null)
                    {
                        Interlocked.Increment(ref _directories);
                        var parentMatch = match >= 0 && parent!.Entries[match].Kind == EntryKind.Directory ? match : -1;
                        queue.Enqueue((index, parentMatch, child.Subdirectory, walker.ListAsync(child.Subdirectory, cancellationToken)));
                    }
                }

                ref var d = ref builder.Entry(directory.Entry);
                d.First = (uint)first;
                d.Count = (uint)(builder.EntryCount - first);
                directory.Handle.Release();
            }
        }
        finally
        {
            jobs.TryComplete();
        }
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
        var budget = new ByteBudget(_options.ReadAheadBytes);
        var readers = new SemaphoreSlim(_options.ReadConcurrency);
        var ordered = Channel.CreateBounded<(FileJob Job, Task<FileContent?>? Content)>(new BoundedChannelOptions(1024) { SingleReader = true, SingleWriter = true });
        var parentFrames = parent is null ? [] : Enumerable.Repeat(-1, parent.Frames.Length).ToArray();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // The dispatcher starts reads in walk order, each after taking its bytes from the budget.
        var dispatcher = Task.Run(async () =>
        {
            try
            {
                await foreach (var job in jobs.ReadAllAsync(stop.Token).ConfigureAwait(false))
                {
                    Task<FileContent?>? content = null;
                    if (job.Unchanged < 0 && job.Stat.Size <= WholeFileLimit)
                    {
                        await budget.AcquireAsync(BudgetOf(job), stop.Token).ConfigureAwait(false);
                        await readers.WaitAsync(stop.Token).ConfigureAwait(false);
                        content = Task.Run(() =>
                        {
                            try
                            {
                                return ReadOrSkip(job);
                            }
                            finally
                            {
                                readers.Release();
                            }
                        }, stop.Token);
                    }

                    await ordered.Writer.WriteAsync((job, content), stop.Token).ConfigureAwait(false);
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
        }

        if (dispatcher.IsFaulted)
        {
            await dispatcher.ConfigureAwait(false);
        }

        async Task ConsumeAsync()
        {
            var refs = new List<(long Offset, ContentId Id, ChunkSlot Slot)>();
            await foreach (var (job, content) in ordered.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                try
                {
                    refs.Clear();
                    FileResult? result;
                    if (job.Unchanged >= 0)
                    {
                        result = ReuseFromParent(job, parent!, index, parentFrames, refs);
                        Interlocked.Increment(ref _unchanged);
                    }
                    else if (content is not null)
                    {
                        using var data = await content.ConfigureAwait(false);
                        budget.Release(BudgetOf(job));
                        result = data is null ? null : await PackContentAsync(data, index, writer, refs).ConfigureAwait(false);
                    }
                    else
                    {
                        result = await StreamLargeFileAsync(job, index, writer, refs).ConfigureAwait(false);
                    }

                    if (result is null)
                    {
                        // Skipped: recorded as an empty file, listed in the result. Not with the size it had, which
                        // would restore as zeros, nor with the chunks of a streamed attempt that saw it change.
                        refs.Clear();
                        result = new FileResult(job.Stat, false, null) { Size = 0 };
                    }

                    result.RefStart = builder.ChunkRefCount;
                    result.RefCount = refs.Count;
                    foreach (var (offset, id, slot) in refs)
                    {
                        builder.AddChunkRef(offset, id, slot);
                    }

                    Interlocked.Add(ref _chunks, refs.Count);
                    results[job.Entry] = result;
                }
                finally
                {
                    job.Directory.Release();
                }
            }
        }
    }

    // What a read really holds: the pool rounds a rented buffer up to a power of two.
    private static long BudgetOf(FileJob job) => (long)BitOperations.RoundUpToPowerOf2((ulong)Math.Max(16, job.Stat.Size));

    private FileContent? ReadOrSkip(FileJob job)
    {
        try
        {
            return FileContentReader.ReadWhole(job.Directory, job.Name, _chunker);
        }
        catch (Exception e) when (e is LinuxIOException or FileChangedException)
        {
            return Unreadable(job, e);
        }
    }

    private FileContent? Unreadable(FileJob job, Exception e)
    {
        var display = Manifest.Display(job.Directory.PathOf(job.Name));
        if (!_options.SkipUnreadable)
        {
            throw e is FileChangedException ? new CairnException(e.Message) : new CairnException($"cannot read '{display}': {e.Message} (use --skip-unreadable to continue without it)", e);
        }

        _skipped.Enqueue($"{display}: {e.Message}");
        return null;
    }

    private static FileResult ReuseFromParent(FileJob job, Manifest parent, ChunkIndex index, int[] parentFrames, List<(long, ContentId, ChunkSlot)> refs)
    {
        foreach (var r in parent.ChunkRefsOf(job.Unchanged))
        {
            var chunk = parent.Chunks[r.Chunk];
            var location = parent.Locations[r.Chunk];
            ref var frame = ref parentFrames[location.Frame];
            if (frame < 0)
            {
                frame = index.AddManifestFrame(parent, (int)location.Frame);
            }

            refs.Add((r.Offset, chunk.Id, new ChunkSlot(frame, (int)location.OffsetInFrame, (int)chunk.Length)));
        }

        return new FileResult(job.Stat, (parent.Entries[job.Unchanged].Traits & EntryTraits.Sparse) != 0, XattrsOf(parent, job.Unchanged));
    }

    private async ValueTask<FileResult> PackContentAsync(FileContent content, ChunkIndex index, PackWriter writer, List<(long, ContentId, ChunkSlot)> refs)
    {
        Interlocked.Add(ref _bytesRead, content.Stat.Size);
        foreach (var piece in content.Chunks)
        {
            refs.Add((piece.FileOffset, piece.Id, await StoreChunkAsync(piece.Id, content.Buffer.AsMemory(piece.BufferOffset, piece.Length), index, writer).ConfigureAwait(false)));
        }

        return new FileResult(content.Stat, content.Sparse, content.Xattrs);
    }

    private async ValueTask<ChunkSlot> StoreChunkAsync(ContentId id, ReadOnlyMemory<byte> data, ChunkIndex index, PackWriter writer)
    {
        if (!index.TryGet(id, out var slot))
        {
            await writer.AddChunkAsync(id, data.Span).ConfigureAwait(false);
            index.TryGet(id, out slot);
            Interlocked.Increment(ref _newChunks);
            Interlocked.Add(ref _newBytes, data.Length);
        }

        return slot;
    }

    /// <summary>Large files are not read ahead whole: the packer streams them in blocks, cutting and hashing as it goes.</summary>
    private async ValueTask<FileResult?> StreamLargeFileAsync(FileJob job, ChunkIndex index, PackWriter writer, List<(long, ContentId, ChunkSlot)> refs)
    {
        // One block plus the longest chunk that can straddle the block's end.
        _streamBuffer ??= GC.AllocateUninitializedArray<byte>((4 << 20) + _repository.Config.ChunkMax);
        var buffer = _streamBuffer;
        {
            for (var attempt = 1; ; attempt++)
            {
                refs.Clear();
                FileDescriptor fd;
                try
                {
                    fd = LinuxFile.OpenAt(job.Directory.Descriptor, job.Name, OpenFlags.ReadOnly | OpenFlags.NoFollow);
                }
                catch (LinuxIOException e)
                {
                    Unreadable(job, e);
                    return null;
                }

                using (fd)
                {
                    var before = LinuxFile.Stat(fd);
                    var extents = FileContentReader.DataExtents(fd, before);
                    var complete = true;
                    foreach (var (start, length) in extents)
                    {
                        complete &= await StreamExtentAsync(fd, start, length, buffer, index, writer, refs).ConfigureAwait(false);
                    }

                    var after = LinuxFile.Stat(fd);
                    if (complete && FileContentReader.SameVersion(before, after) && before.Kind == FileKind.Regular)
                    {
                        Interlocked.Add(ref _bytesRead, before.Size);
                        return new FileResult(before, FileContentReader.IsSparse(extents, before.Size), LinuxFile.ReadXattrs(fd));
                    }
                }

                if (attempt == FileContentReader.Attempts)
                {
                    Unreadable(job, new FileChangedException(job.Directory.PathOf(job.Name)));
                    return null;
                }
            }
        }
    }

    private async ValueTask<bool> StreamExtentAsync(FileDescriptor fd, long start, long length, byte[] buffer, ChunkIndex index, PackWriter writer, List<(long, ContentId, ChunkSlot)> refs)
    {
        var end = start + length;
        var position = start; // file offset of buffer[0]
        var filled = 0;
        while (true)
        {
            var want = (int)Math.Min(buffer.Length - filled, end - (position + filled));
            var read = 0;
            while (read < want)
            {
                var n = LinuxFile.Read(fd, buffer.AsSpan(filled + read, want - read), position + filled + read);
                if (n == 0)
                {
                    return false; // shorter than it was: the caller retries
                }

                read += n;
            }

            filled += read;
            var isFinal = position + filled >= end;
            var used = 0;
            while (used < filled)
            {
                var cut = _chunker.NextCut(buffer.AsSpan(used, filled - used), isFinal);
                if (cut == 0)
                {
                    break;
                }

                var id = ContentId.Hash(buffer.AsSpan(used, cut));
                refs.Add((position + used, id, await StoreChunkAsync(id, buffer.AsMemory(used, cut), index, writer).ConfigureAwait(false)));
                used += cut;
            }

            if (isFinal)
            {
                return true;
            }

            buffer.AsSpan(used, filled - used).CopyTo(buffer);
            position += used;
            filled -= used;
        }
    }

    private Timer? StartProgress(Stopwatch stopwatch)
    {
        if (_options.Progress is null)
        {
            return null;
        }

        return new Timer(_ => _options.Progress.Report(new SnapshotProgress(
            Interlocked.Read(ref _files), Interlocked.Read(ref _bytes), Interlocked.Read(ref _bytesRead), Interlocked.Read(ref _newBytes),
            _repository.Store.Statistics.BytesWritten, false)), null, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(250));
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

    private sealed record FileJob(int Entry, DirectoryHandle Directory, byte[] Name, StatxInfo Stat, int Unchanged);

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

    private sealed class FileResult(StatxInfo stat, bool sparse, List<KeyValuePair<byte[], byte[]>>? xattrs)
    {
        public StatxInfo Stat { get; } = stat;

        public bool Sparse { get; } = sparse;

        public List<KeyValuePair<byte[], byte[]>>? Xattrs { get; } = xattrs;

        /// <summary>The size recorded: the file's, or 0 for a file that was skipped.</summary>
        public long Size { get; init; } = stat.Size;

        public int RefStart { get; set; }

        public int RefCount { get; set; }
    }
}
