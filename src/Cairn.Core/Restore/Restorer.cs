using System.Buffers;
using System.Diagnostics;
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
/// <item>data: the frames the snapshot needs, in pack order, fetched as coalesced ranged reads and decoded in
/// parallel; every chunk is verified before it is written, to every file that holds it; a file gets its metadata
/// and is closed as soon as its last chunk is written;</item>
/// <item>hardlinks, then directory metadata deepest first (creating entries changes a directory's mtime).</item>
/// </list>
/// It all happens in a private sibling of the target that replaces it atomically at the end (<see cref="RestoreTarget"/>).
/// </summary>
public sealed class Restorer
{
    private readonly Repository.Repository _repository;
    private readonly RestoreOptions _options;
    private readonly bool _restoreOwners = LinuxFile.IsRoot;
    private readonly List<string> _warnings = [];
    private long _bytesWritten;

    public Restorer(Repository.Repository repository, RestoreOptions? options = null)
    {
        _repository = repository;
        _options = options ?? new RestoreOptions();
    }

    public async Task<RestoreResult> RestoreAsync(SnapshotRecord snapshot, string target, CancellationToken cancellationToken = default)
    {
        var stopwatch = Stopwatch.StartNew();
        var manifest = await _repository.ReadManifestAsync(snapshot, cancellationToken).ConfigureAwait(false);
        using var destination = RestoreTarget.Prepare(target, _options.Replace);
        var directories = new FileDescriptor?[manifest.Count];
        directories[0] = destination.Staging;
        try
        {
            using var files = CreateStructure(manifest, directories);
            using var progress = StartProgress(manifest);
            await WriteDataAsync(manifest, directories, files, cancellationToken).ConfigureAwait(false);
            LinkAndFinish(manifest, directories);
            destination.Commit();
        }
        finally
        {
            for (var i = 1; i < directories.Length; i++)
            {
                directories[i]?.Dispose();
            }
        }

        return new RestoreResult(manifest.Count, _bytesWritten, Math.Round(stopwatch.Elapsed.TotalSeconds, 3), _warnings);
    }

    // ---------------------------------------------------------------- phase 1: structure

    /// <summary>Creates everything but file data, hardlinks and directory metadata; returns the files still to fill.</summary>
    private OpenFiles CreateStructure(Manifest m, FileDescriptor?[] directories)
    {
        var files = new OpenFiles(m.Count);
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
                    files.Remaining[i] = (int)e.Count;
                    if (e.Count == 0)
                    {
                        using var fd = CreateFile(m, i, parent);
                        FinishFile(m, i, fd);
                    }

                    break;
            }
        }

        return files;
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

    private async Task WriteDataAsync(Manifest m, FileDescriptor?[] directories, OpenFiles files, CancellationToken cancellationToken)
    {
        var plan = RestorePlan.Build(m, _options.MaxReadSize);
        await Parallel.ForEachAsync(plan.Reads, new ParallelOptions { MaxDegreeOfParallelism = _options.Concurrency, CancellationToken = cancellationToken }, async (read, ct) =>
        {
            var key = ObjectKeys.Pack(m.Packs[read.Pack]);
            var buffer = ArrayPool<byte>.Shared.Rent(read.Length);
            var frameBuffer = ArrayPool<byte>.Shared.Rent(ManifestCodec.MaxFrameLength);
            try
            {
                await _repository.Store.ReadRangeAsync(key, read.Offset, buffer.AsMemory(0, read.Length), ct).ConfigureAwait(false);
                foreach (var frame in plan.FramesOf(read))
                {
                    ref readonly var f = ref m.Frames[frame];
                    FrameCodec.Decode(buffer.AsSpan((int)(f.Offset - read.Offset), (int)f.CompressedLength), f, frameBuffer, key);
                    foreach (var chunk in plan.ChunksOf(frame))
                    {
                        var data = frameBuffer.AsSpan((int)m.Locations[chunk].OffsetInFrame, (int)m.Chunks[chunk].Length);
                        FrameCodec.VerifyChunk(data, m.Chunks[chunk].Id, key);
                        foreach (var (entry, offset) in plan.DestinationsOf(chunk))
                        {
                            WriteChunk(m, directories, files, entry, offset, data);
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frameBuffer);
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }).ConfigureAwait(false);
    }

    private void WriteChunk(Manifest m, FileDescriptor?[] directories, OpenFiles files, int entry, long offset, ReadOnlySpan<byte> data)
    {
        var fd = files.Get(entry, m, directories);
        LinuxFile.WriteAll(fd, data, offset);
        Interlocked.Add(ref _bytesWritten, data.Length);
        if (Interlocked.Decrement(ref files.Remaining[entry]) == 0)
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
    private static FileDescriptor CreateFile(Manifest m, int i, FileDescriptor parent) =>
        LinuxFile.OpenAt(parent, m.NameOf(i), OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, m.Entries[i].Mode & 0x1FF);

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
    private sealed class OpenFiles(int count) : IDisposable
    {
        private readonly FileDescriptor?[] _open = new FileDescriptor?[count];
        private readonly Lock _createLock = new();

        public int[] Remaining { get; } = new int[count];

        public FileDescriptor Get(int entry, Manifest m, FileDescriptor?[] directories)
        {
            var fd = Volatile.Read(ref _open[entry]);
            if (fd is not null)
            {
                return fd;
            }

            if (Remaining[entry] == 1)
            {
                // The only chunk of the file: no other worker can race for it.
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
