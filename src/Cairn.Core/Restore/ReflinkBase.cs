using System.Text;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Native.Linux;

namespace Cairn.Restore;

/// <summary>
/// A run of consecutive chunk references of a file (<see cref="RefCount"/> from index <see cref="FirstRef"/>), at
/// <see cref="Offset"/>, whose bytes a base copy holds one after the other from <see cref="SourceOffset"/>.
/// </summary>
internal readonly record struct CloneRun(int FirstRef, int RefCount, long Offset, long SourceOffset, long Length);

/// <summary>
/// A directory holding an earlier restore of an image snapshot, used as the base of a new one (<c>--reflink-from</c>):
/// the Firecracker pattern of keeping each version's images on a reflink-capable file system. Its
/// <c>.cairn-origin</c> (<see cref="RestoreOrigin"/>) names the snapshot the images are, so the blocks they share
/// with the snapshot being restored are known from the two manifests, without reading a byte of them; the recorded
/// ctime and inode prove the files are untouched since. Files that changed, or that the record does not name, are
/// simply not used.
/// </summary>
internal sealed class ReflinkBase : IDisposable
{
    /// <summary>
    /// The granularity of a clone from another offset: FICLONERANGE takes whole blocks of the file system (4 KiB on
    /// XFS and btrfs as made by default); a clone to the same offset may also end at the end of both files.
    /// </summary>
    private const int CloneBlock = 4096;

    private readonly Dictionary<string, (FileDescriptor Fd, int Entry)> _files;
    private readonly Manifest _manifest;

    private ReflinkBase(ContentId snapshot, Manifest manifest, Dictionary<string, (FileDescriptor, int)> files)
    {
        Snapshot = snapshot;
        _manifest = manifest;
        _files = files;
    }

    /// <summary>The earlier restore in <paramref name="directory"/>; a usage error if it is not one.</summary>
    public static async Task<ReflinkBase> OpenAsync(Repository.Repository repository, string directory, Action<string> warn, CancellationToken cancellationToken) =>
        await TryOpenAsync(repository, directory, warn, known: null, cancellationToken).ConfigureAwait(false)
        ?? throw new UsageException($"'{directory}' is not a restore of an image snapshot (no valid {RestoreOrigin.FileName}): it cannot serve as a reflink base");

    /// <summary>
    /// The earlier restore in <paramref name="directory"/>, with the files that are still as it left them
    /// (<paramref name="warn"/> is told about the others); null if the directory holds no valid
    /// <see cref="RestoreOrigin"/>. <paramref name="known"/>: a snapshot whose manifest is in memory already (the one
    /// being restored), not read again if the base is a restore of it.
    /// </summary>
    public static async Task<ReflinkBase?> TryOpenAsync(Repository.Repository repository, string directory, Action<string> warn, (ContentId Snapshot, Manifest Manifest)? known, CancellationToken cancellationToken)
    {
        FileDescriptor dir;
        try
        {
            dir = LinuxFile.OpenDirectory(directory);
        }
        catch (LinuxIOException e)
        {
            throw new UsageException($"cannot use '{directory}' as a reflink base: {e.Message}");
        }

        using (dir)
        {
            var origin = RestoreOrigin.TryRead(dir);
            if (origin is null || !ContentId.TryParse(origin.Snapshot, out var snapshot))
            {
                return null;
            }

            var manifest = known is { } k && k.Snapshot == snapshot
                ? k.Manifest
                : await repository.ReadManifestAsync(await repository.ReadSnapshotAsync(snapshot, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            var files = new Dictionary<string, (FileDescriptor, int)>(StringComparer.Ordinal);
            try
            {
                OpenFiles(directory, dir, origin, manifest, files, warn);
            }
            catch
            {
                foreach (var (fd, _) in files.Values)
                {
                    fd.Dispose();
                }

                throw;
            }

            return new ReflinkBase(snapshot, manifest, files);
        }
    }

    /// <summary>Opens the files of <paramref name="origin"/> that are still as the restore left them into <paramref name="files"/>.</summary>
    private static void OpenFiles(string directory, FileDescriptor dir, RestoreOrigin origin, Manifest manifest, Dictionary<string, (FileDescriptor, int)> files, Action<string> warn)
    {
        foreach (var file in origin.Files)
        {
            var name = Encoding.UTF8.GetBytes(file.Name);
            var entry = ManifestValidator.IsValidName(name) ? manifest.Lookup(0, name) : -1;
            if (entry < 0 || manifest.Entries[entry].Kind != EntryKind.Regular || files.ContainsKey(file.Name)
                || LinuxFile.TryOpenAt(dir, name, OpenFlags.ReadOnly | OpenFlags.NoFollow, 0, out var opened) != 0 || opened is not { } fd)
            {
                warn($"'{Path.Combine(directory, file.Name)}' is missing or not part of the base snapshot: not used as a reflink base");
                continue;
            }

            var kept = false;
            try
            {
                var stat = LinuxFile.Stat(fd);
                if (stat.Kind != FileKind.Regular || stat.Size != file.Size || stat.MTimeNs != file.MTimeNs || stat.CTimeNs != file.CTimeNs || stat.Inode != file.Inode || stat.Device != file.Device
                    || stat.Size != manifest.Entries[entry].Size)
                {
                    warn($"'{Path.Combine(directory, file.Name)}' changed since it was restored: not used as a reflink base");
                    continue;
                }

                files.Add(file.Name, (fd, entry));
                kept = true;
            }
            finally
            {
                if (!kept)
                {
                    fd.Dispose();
                }
            }
        }
    }

    /// <summary>The snapshot the base's images are.</summary>
    public ContentId Snapshot { get; }

    /// <summary>Whether any of the base's files is usable.</summary>
    public bool IsEmpty => _files.Count == 0;

    /// <summary>
    /// The base file for entry <paramref name="entry"/> of <paramref name="target"/> (an image: a file of the root
    /// directory), with the runs of its chunk references whose bytes the base holds: at the same offset where it has
    /// them there, else wherever in the base file it has them, as whole file-system blocks (a block the guest's file
    /// system moved, or a page the guest moved). Null if there is no base file of that name.
    /// </summary>
    public FileDescriptor? Match(Manifest target, int entry, List<CloneRun> runs)
    {
        var name = Encoding.UTF8.GetString(target.NameOf(entry));
        if (target.ParentOf(entry) != 0 || !_files.TryGetValue(name, out var file))
        {
            return null;
        }

        var baseRefs = _manifest.ChunkRefsOf(file.Entry);
        var refs = target.ChunkRefsOf(entry);
        var first = (int)target.Entries[entry].First;

        // A clone may end inside a block only at the end of both files: a partial block at the same offset qualifies
        // when the two files are the same size.
        var sameSize = _manifest.Entries[file.Entry].Size == target.Entries[entry].Size;
        Dictionary<ContentId, long>? anywhere = null;
        CloneRun? open = null;
        var j = 0;
        for (var k = 0; k < refs.Length; k++)
        {
            var r = refs[k];
            while (j < baseRefs.Length && baseRefs[j].Offset < r.Offset)
            {
                j++;
            }

            var id = target.Chunks[r.Chunk].Id;
            var length = target.Chunks[r.Chunk].Length;
            long source;
            if (j < baseRefs.Length && baseRefs[j].Offset == r.Offset && _manifest.Chunks[baseRefs[j].Chunk].Id == id && (sameSize || length % CloneBlock == 0))
            {
                source = r.Offset;
            }
            else if (length % CloneBlock == 0 && (anywhere ??= OffsetsOf(baseRefs)).TryGetValue(id, out var at))
            {
                source = at;
            }
            else
            {
                open = Flush(open, runs);
                continue;
            }

            open = open is { } o && o.Offset + o.Length == r.Offset && o.SourceOffset + o.Length == source
                ? o with { RefCount = o.RefCount + 1, Length = o.Length + length }
                : Flush(open, runs) ?? new CloneRun(first + k, 1, r.Offset, source, length);
        }

        Flush(open, runs);
        return file.Fd;
    }

    public void Dispose()
    {
        foreach (var (fd, _) in _files.Values)
        {
            fd.Dispose();
        }
    }

    /// <summary>Where in the base file each of its chunks is (the first place, for content it holds more than once), among those a clone can take whole.</summary>
    private Dictionary<ContentId, long> OffsetsOf(ReadOnlySpan<ChunkRef> baseRefs)
    {
        var offsets = new Dictionary<ContentId, long>(baseRefs.Length);
        foreach (var r in baseRefs)
        {
            if (r.Offset % CloneBlock == 0 && _manifest.Chunks[r.Chunk].Length % CloneBlock == 0)
            {
                offsets.TryAdd(_manifest.Chunks[r.Chunk].Id, r.Offset);
            }
        }

        return offsets;
    }

    private static CloneRun? Flush(CloneRun? run, List<CloneRun> runs)
    {
        if (run is { } r)
        {
            runs.Add(r);
        }

        return null;
    }
}
