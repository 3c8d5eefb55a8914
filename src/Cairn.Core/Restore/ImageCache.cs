using Cairn.Format;
using Cairn.IO;
using Cairn.Manifests;
using Cairn.Native.Linux;
using Cairn.Repository;
using Cairn.Storage;

namespace Cairn.Restore;

/// <summary>
/// The image versions that restores with <c>--reflink</c> left, kept as reflink clones in the repository's local
/// cache (<see cref="LocalCache"/>): <c>images/SNAPSHOT/</c> holds the images of one snapshot and their
/// <see cref="RestoreOrigin"/>. The next such restore of any version of those images clones the blocks it shares with
/// the nearest cached one instead of fetching, decompressing, verifying and writing them.
/// </summary>
/// <remarks>
/// <para>Why whole restored images rather than the mount's decompressed frames: an earlier version of an image holds
/// most of the blocks it shares with the new one at the same offsets, in runs as long as the unchanged stretches, so a
/// restore clones them with a few large FICLONERANGE calls (and the rest from wherever they are, <see cref="ReflinkBase.Match"/>). A frame packs a snapshot's new blocks without their
/// zero neighbours, so cloning from frames would take one call per run of blocks adjacent in both, and only the blocks
/// of frames some mount happened to fetch.</para>
/// <para>Space: adding a version clones the restored files (FICLONE: no data is copied), so a version costs nothing
/// while its restore is unchanged; once the VM writes to its images, the cache's version keeps the blocks they
/// replaced. At most <see cref="Versions"/> versions are kept, the least recently used evicted first.</para>
/// <para>Trust: a cached version is used only if its files are exactly as they were cloned (size, mtime, ctime,
/// inode; <see cref="ReflinkBase"/>), and was made from a restore that verified every block. A version that fails the
/// check is removed.</para>
/// <para>Concurrency: a version is built in a private <c>.tmp-*</c> directory and renamed into place; adding and
/// evicting happen under an exclusive lock on <c>images/.lock</c>. A restore that found a version holds its files
/// open, so an eviction meanwhile only unlinks them.</para>
/// </remarks>
internal sealed class ImageCache
{
    /// <summary>How many of the snapshot's ancestors are looked for in the cache before any cached version is taken.</summary>
    private const int MaxAncestors = 16;

    private static readonly TimeSpan s_staleTemp = TimeSpan.FromHours(1);

    private ImageCache(string directory, int versions)
    {
        Directory = directory;
        Versions = versions;
    }

    /// <summary>The <c>images/</c> directory of the repository's local cache.</summary>
    public string Directory { get; }

    /// <summary>Most versions kept.</summary>
    public int Versions { get; }

    public static ImageCache Open(string root, string repositoryId, int versions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(versions, 1);
        var directory = Path.Combine(LocalCache.DirectoryOf(root, repositoryId), "images");
        System.IO.Directory.CreateDirectory(directory);
        var cache = new ImageCache(directory, versions);
        cache.SweepStaleTemporaries();
        return cache;
    }

    /// <summary>
    /// The cached version to clone from for a restore of <paramref name="snapshot"/> (whose manifest is
    /// <paramref name="manifest"/>): the snapshot itself, else its nearest cached ancestor, else the most recently used
    /// version with an image of the same name (a sibling or a cousin still shares most blocks;
    /// <see cref="ReflinkBase.Match"/> finds which). Null if the cache holds no usable version.
    /// </summary>
    public async Task<ReflinkBase?> FindBaseAsync(Repository.Repository repository, SnapshotRecord snapshot, Manifest manifest, CancellationToken cancellationToken)
    {
        // Versions of other images (another VM's) are passed over by their origin file alone, unread; with none
        // left, the lineage is not walked (on S3 every step is a request).
        var names = manifest.RootFiles().Select(i => System.Text.Encoding.UTF8.GetString(manifest.NameOf(i))).ToHashSet(StringComparer.Ordinal);
        var candidates = CachedVersions().FindAll(id => SharesAName(id, names));
        var record = snapshot;
        for (var depth = 0; depth <= MaxAncestors && candidates.Count > 0; depth++)
        {
            if (candidates.Remove(record.Id) && await TryUseAsync(repository, record.Id, (snapshot.Id, manifest), cancellationToken).ConfigureAwait(false) is { } found)
            {
                return found;
            }

            if (candidates.Count == 0 || record.ParentId is not { } parent)
            {
                break;
            }

            try
            {
                record = await repository.ReadSnapshotAsync(parent, cancellationToken).ConfigureAwait(false);
            }
            catch (CairnException)
            {
                break; // the parent was deleted since, or cannot be read: take what the cache has
            }
        }

        foreach (var id in candidates)
        {
            if (await TryUseAsync(repository, id, known: null, cancellationToken).ConfigureAwait(false) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>
    /// Adds the images just restored into <paramref name="restored"/> (the root of <paramref name="m"/>, with their
    /// metadata set) as the cached version of <paramref name="snapshot"/>, replacing an older copy of it, and evicts
    /// the versions beyond <see cref="Versions"/>. Returns false, adding nothing, where the cache and the restore are
    /// not on one file system that can clone.
    /// </summary>
    public bool TryAdd(FileDescriptor restored, SnapshotRecord snapshot, Manifest m)
    {
        var temp = Path.Combine(Directory, $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(temp);
        try
        {
            using (var directory = LinuxFile.OpenDirectory(temp))
            {
                foreach (var i in m.RootFiles())
                {
                    using var source = LinuxFile.OpenAt(restored, m.NameOf(i), OpenFlags.ReadOnly | OpenFlags.NoFollow);
                    using var copy = LinuxFile.OpenAt(directory, m.NameOf(i), OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, 0b100_000_000);
                    if (!LinuxFile.TryClone(source, copy))
                    {
                        return false;
                    }
                }

                RestoreOrigin.Write(directory, snapshot, m);
            }

            using (Lock())
            {
                var final = Path.Combine(Directory, snapshot.Id.ToString());
                Remove(final); // an older copy of the same version (its restore may have been changed since)
                System.IO.Directory.Move(temp, final);

                // Use is ordered by the versions' mtimes, which TryUseAsync sets from this clock: the kernel's own
                // (coarse, a few ms behind) would order a version added just now before one touched just before.
                System.IO.Directory.SetLastWriteTimeUtc(final, DateTime.UtcNow);
                Evict();
            }

            return true;
        }
        finally
        {
            Remove(temp);
        }
    }

    /// <summary>The lock under which versions are added and removed (waiting up to 30 s for another process's add).</summary>
    private FileStream Lock() => FileLock.Acquire(Path.Combine(Directory, ".lock"), attempts: 3000, TimeSpan.FromMilliseconds(10));

    /// <summary>The cached versions, most recently used first.</summary>
    private List<ContentId> CachedVersions()
    {
        var versions = new List<(ContentId Id, DateTime Used)>();
        foreach (var directory in new DirectoryInfo(Directory).EnumerateDirectories())
        {
            if (ContentId.TryParse(directory.Name, out var id))
            {
                versions.Add((id, directory.LastWriteTimeUtc));
            }
        }

        versions.Sort((a, b) => b.Used.CompareTo(a.Used));
        return versions.ConvertAll(v => v.Id);
    }

    /// <summary>Whether the cached version of <paramref name="id"/> holds an image named as one of <paramref name="names"/>.</summary>
    private bool SharesAName(ContentId id, HashSet<string> names)
    {
        try
        {
            using var directory = LinuxFile.OpenDirectory(Path.Combine(Directory, id.ToString()));
            return RestoreOrigin.TryRead(directory) is { } origin && origin.Files.Any(f => names.Contains(f.Name));
        }
        catch (LinuxIOException)
        {
            return false; // evicted meanwhile
        }
    }

    /// <summary>
    /// Opens the cached version of <paramref name="id"/> and marks it used, if its files are intact; removes it if they
    /// are not, or if its snapshot is gone. Null if it cannot be used, also for a failure that may pass (the store, or
    /// permissions): that version is kept.
    /// </summary>
    private async Task<ReflinkBase?> TryUseAsync(Repository.Repository repository, ContentId id, (ContentId, Manifest)? known, CancellationToken cancellationToken)
    {
        var path = Path.Combine(Directory, id.ToString());
        ReflinkBase? found;
        var damaged = false;
        try
        {
            // A version one of whose files was touched since is not trusted at all: it is dropped below, silently.
            found = await ReflinkBase.TryOpenAsync(repository, path, _ => damaged = true, known, cancellationToken).ConfigureAwait(false);
        }
        catch (UsageException)
        {
            found = null; // evicted meanwhile, or its snapshot was deleted from the repository
        }
        catch (Exception e) when (e is CairnException or IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (found is null || found.IsEmpty || damaged)
        {
            found?.Dispose();
            TryRemove(path);
            return null;
        }

        try
        {
            System.IO.Directory.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Evicted since it was opened (its files stay readable through the open descriptors), or another user's:
            // still usable, only its place in the eviction order stays where it was.
        }

        return found;
    }

    /// <summary>Removes a version under the lock; one that cannot be removed now (the lock held too long, another user's) stays.</summary>
    private void TryRemove(string path)
    {
        try
        {
            using (Lock())
            {
                Remove(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Removes the versions beyond <see cref="Versions"/>, least recently used first. Under the lock.</summary>
    private void Evict()
    {
        var versions = CachedVersions();
        for (var i = Versions; i < versions.Count; i++)
        {
            Remove(Path.Combine(Directory, versions[i].ToString()));
        }
    }

    /// <summary>
    /// Removes the temporary directories of adds that a crash interrupted: they hold clones that pin old blocks.
    /// One younger than an hour may be an add in progress in another process. Whatever cannot be removed now stays.
    /// </summary>
    private void SweepStaleTemporaries()
    {
        try
        {
            foreach (var directory in new DirectoryInfo(Directory).EnumerateDirectories(".tmp-*"))
            {
                if (DateTime.UtcNow - directory.LastWriteTimeUtc > s_staleTemp)
                {
                    Remove(directory.FullName);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static void Remove(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
