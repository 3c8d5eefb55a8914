using Cairn.IO;
using Cairn.Native.Linux;

namespace Cairn.Restore;

/// <summary>
/// The rules for where a restore may write, and the atomic swap at the end. A restore always builds the tree in a
/// fresh sibling directory (mode 0700, so nothing can be planted in it) and renames it into place only when it is
/// complete; a failure removes the sibling and leaves the target as it was.
/// </summary>
internal sealed class RestoreTarget : IDisposable
{
    private readonly FileDescriptor _parent;
    private readonly byte[] _name;
    private readonly byte[] _stagingName;
    private readonly bool _exists;
    private readonly bool _empty;
    private bool _committed;

    private RestoreTarget(FileDescriptor parent, byte[] name, byte[] stagingName, bool exists, bool empty, FileDescriptor staging)
    {
        _parent = parent;
        _name = name;
        _stagingName = stagingName;
        _exists = exists;
        _empty = empty;
        Staging = staging;
    }

    /// <summary>The directory the tree is built in.</summary>
    public FileDescriptor Staging { get; }

    public static RestoreTarget Prepare(string target, bool replace)
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

            var stagingName = System.Text.Encoding.ASCII.GetBytes($".{Path.GetFileName(path)}.cairn-restore-{RandomName.Hex(12)}");
            LinuxFile.MakeDirectoryAt(parent, stagingName, 0b111_000_000);
            var staging = LinuxFile.OpenAt(parent, stagingName, OpenFlags.ReadOnly | OpenFlags.Directory | OpenFlags.NoFollow);
            return new RestoreTarget(parent, name, stagingName, exists, empty, staging);
        }
        catch
        {
            parent.Dispose();
            throw;
        }
    }

    /// <summary>Moves the finished tree into place: rename when the target is absent or empty, exchange otherwise.</summary>
    public void Commit()
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

        _committed = true;
    }

    public void Dispose()
    {
        Staging.Dispose();
        try
        {
            // Not committed: the partial tree. Committed over old contents: those, now under the staging name.
            if (!_committed || (_exists && !_empty))
            {
                LinuxFile.RemoveTree(_parent, _stagingName);
            }
        }
        finally
        {
            _parent.Dispose();
        }
    }
}
