using Cairn.IO;
using Cairn.Native.Linux;

namespace Cairn.Restore;

/// <summary>
/// The rules for where a restore may write, and the atomic swap at the end. A restore always builds the tree in a
/// fresh sibling directory (mode 0700, so nothing can be planted in it) and renames it into place only when it is
/// complete; a failure removes the sibling and leaves the target as it was. A restore that is killed cannot remove
/// its sibling: the next restore to the same target does, once it knows no process is still filling it (each holds
/// a lock on its sibling while it works, <see cref="SweepAbandoned"/>). What cannot be removed (an immutable file) is
/// left with a warning that names it and says why: by then the restore has succeeded, or failed for another reason
/// that matters more.
/// </summary>
internal sealed class RestoreTarget : IDisposable
{
    private readonly string _path;
    private readonly FileDescriptor _parent;
    private readonly byte[] _name;
    private readonly byte[] _stagingName;
    private readonly bool _exists;
    private readonly bool _empty;
    private readonly Action<string> _warn;
    private bool _committed;

    private RestoreTarget(string path, FileDescriptor parent, byte[] name, byte[] stagingName, bool exists, bool empty, FileDescriptor staging, Action<string> warn)
    {
        _path = path;
        _parent = parent;
        _name = name;
        _stagingName = stagingName;
        _exists = exists;
        _empty = empty;
        Staging = staging;
        _warn = warn;
    }

    /// <summary>The directory the tree is built in.</summary>
    public FileDescriptor Staging { get; }

    /// <summary>Checks <paramref name="target"/> and creates the staging directory beside it; <paramref name="warn"/> takes what is left behind (here and on <see cref="Dispose"/>).</summary>
    public static RestoreTarget Prepare(string target, bool replace, Action<string> warn)
    {
        var path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        var parentPath = Path.GetDirectoryName(path);
        if (parentPath is null || path == "/")
        {
            throw new UsageException("refusing to restore to '/'");
        }

        var name = System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path));
        Directory.CreateDirectory(parentPath);
        var parent = LinuxFile.OpenDirectory(parentPath);
        try
        {
            var exists = false;
            var empty = true;
            if (LinuxFile.TryStat(parent, name, out var stat) == 0)
            {
                if (stat.Kind == FileKind.Symlink)
                {
                    throw new UsageException($"the target '{path}' is a symbolic link: give the directory it points to");
                }

                if (stat.Kind != FileKind.Directory)
                {
                    throw new UsageException($"the target '{path}' exists and is not a directory");
                }

                using var rootFd = LinuxFile.OpenDirectory("/");
                var root = LinuxFile.Stat(rootFd);
                if (stat.Inode == root.Inode && stat.Device == root.Device)
                {
                    throw new UsageException($"refusing to restore to '{path}': it is the root directory");
                }

                exists = true;
                using var existing = LinuxFile.OpenAt(parent, name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
                empty = LinuxFile.ReadDirectory(existing).Count == 0;
                if (!empty && !replace)
                {
                    throw new UsageException($"the target '{path}' is not empty (use --replace to replace its contents)");
                }
            }

            var prefix = StagingPrefix(name);
            SweepAbandoned(parent, parentPath, prefix, $"what an earlier restore to '{path}' left", warn);
            var stagingName = (byte[])[.. prefix, .. System.Text.Encoding.ASCII.GetBytes(RandomName.Hex(12))];
            FileDescriptor staging;
            try
            {
                LinuxFile.MakeDirectoryAt(parent, stagingName, 0b111_000_000);
                staging = LinuxFile.OpenAt(parent, stagingName, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
            }
            catch (LinuxIOException e) when (e.Errno == Errno.EACCES)
            {
                // The target itself may be the user's and empty: what they need to know is the directory above it.
                throw new CairnException(
                    $"cannot restore to '{path}': its parent directory '{parentPath}' is not writable, and a restore builds the tree in a new directory there, beside the target, to rename it into place once complete (Permission denied)",
                    e);
            }
            catch (LinuxIOException e)
            {
                // The staging directory is ours to name; the user knows the target (read-only, full).
                throw new CairnException($"cannot restore to '{path}': {Errno.GetDescription(e.Errno)}", e);
            }

            try
            {
                LinuxFile.TryLockExclusive(staging); // new, so no one else holds it
            }
            catch (LinuxIOException)
            {
                // A file system without flock on directories (NFS: ENOLCK or EBADF): the restore goes on unlocked, and
                // a sweeper there cannot lock either, so it leaves this directory alone.
            }
            return new RestoreTarget(path, parent, name, stagingName, exists, empty, staging, warn);
        }
        catch
        {
            parent.Dispose();
            throw;
        }
    }

    /// <summary>How the staging directories of restores to <paramref name="name"/> are named: <c>.NAME.cairn-restore-</c> and 12 random hex digits.</summary>
    private static byte[] StagingPrefix(byte[] name) => [.. "."u8, .. name, .. ".cairn-restore-"u8];

    /// <summary>How long a staging directory is left alone whatever its lock says: the moment between its creation and its lock.</summary>
    private static readonly TimeSpan s_youngStaging = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Removes the staging directories of earlier restores to the same target that were killed before they could:
    /// those no process holds the lock of (the kernel released it when their process died), unless created in the
    /// last minute. A directory that cannot be opened or locked is left: debris costs space, never correctness; one
    /// that cannot be removed entirely (an immutable file) is left with a warning.
    /// </summary>
    private static void SweepAbandoned(FileDescriptor parent, string parentPath, byte[] prefix, string what, Action<string> warn)
    {
        var cutoff = (DateTimeOffset.UtcNow - s_youngStaging).ToUnixTimeMilliseconds() * 1_000_000;
        foreach (var entry in LinuxFile.ReadDirectory(parent))
        {
            if (entry.Kind != FileKind.Directory || !entry.Name.AsSpan().StartsWith(prefix))
            {
                continue;
            }

            try
            {
                using var abandoned = LinuxFile.OpenAt(parent, entry.Name, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
                if (LinuxFile.Stat(abandoned).MTimeNs < cutoff && LinuxFile.TryLockExclusive(abandoned))
                {
                    TryRemove(parent, parentPath, entry.Name, what, warn);
                }
            }
            catch (LinuxIOException)
            {
                // Another restore removed it first, or it is not ours to open.
            }
        }
    }

    /// <summary>Moves the finished tree into place: rename when the target is absent or empty, exchange otherwise.</summary>
    public void Commit()
    {
        try
        {
            if (!_exists)
            {
                LinuxFile.RenameAt(_parent, _stagingName, _parent, _name, RenameFlags.NoReplace);
            }
            else if (_empty)
            {
                // rename(2) replaces an empty directory atomically; if it was filled meanwhile this fails with ENOTEMPTY.
                LinuxFile.RenameAt(_parent, _stagingName, _parent, _name);
            }
            else
            {
                LinuxFile.RenameAt(_parent, _stagingName, _parent, _name, RenameFlags.Exchange);
            }
        }
        catch (LinuxIOException e) when (e.Errno is Errno.EEXIST or Errno.ENOTEMPTY)
        {
            // Two restores to one target each build their own tree; the first to finish takes the target.
            var what = _exists ? "filled" : "created";
            throw new CairnException(
                $"cannot restore to '{_path}': it was {what} while this restore ran (another restore to the same target finished first?); nothing of this restore was applied",
                e);
        }

        _committed = true;
    }

    /// <summary>
    /// Not committed: removes the partial tree. Committed over old contents: removes those, now under the staging name.
    /// Before the descriptor that holds the lock is closed, so that no other restore's sweep takes it meanwhile. What
    /// cannot be removed is warned of; a failed restore's warnings are not shown (its error is), so there the next
    /// restore's sweep is what tries again and says so.
    /// </summary>
    public void Dispose()
    {
        try
        {
            if (!_committed || (_exists && !_empty))
            {
                TryRemove(_parent, Path.GetDirectoryName(_path)!, _stagingName, _committed ? $"the replaced contents of '{_path}'" : $"the unfinished restore to '{_path}'", _warn);
            }
        }
        finally
        {
            Staging.Dispose();
            _parent.Dispose();
        }
    }

    /// <summary>Removes the tree <paramref name="name"/> (<paramref name="what"/>), or warns that it is left, where, and why not.</summary>
    private static void TryRemove(FileDescriptor parent, string parentPath, byte[] name, string what, Action<string> warn)
    {
        try
        {
            LinuxFile.RemoveTree(parent, name);
        }
        catch (LinuxIOException e)
        {
            warn($"{what} could not be removed: '{Path.Combine(parentPath, PathBytes.Display(name))}' is left behind ({e.Message})");
        }
    }
}
