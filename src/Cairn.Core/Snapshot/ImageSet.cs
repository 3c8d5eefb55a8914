using System.Text;
using Cairn.Manifests;
using Cairn.Native.Linux;

namespace Cairn.Snapshot;

/// <summary>One image file of an image snapshot: its entry name, where it is read from, and its metadata.</summary>
/// <param name="Path">The absolute path as given (the record lists these).</param>
/// <param name="Name">The entry name: the base name of <paramref name="Path"/>.</param>
/// <param name="Directory">The directory the file is read from (of the symlink's target, if the path is a symlink).</param>
/// <param name="FileName">The file's name in <paramref name="Directory"/>.</param>
/// <param name="Stat">Its metadata when the set was opened (for change detection against the parent).</param>
/// <param name="Xattrs">Its extended attributes.</param>
internal sealed record ImageFile(string Path, byte[] Name, DirectoryHandle Directory, byte[] FileName, StatxInfo Stat, List<KeyValuePair<byte[], byte[]>> Xattrs);

/// <summary>
/// The image files of an image snapshot, opened and checked before any repository work: each a regular file (a
/// symlink given on the command line is followed, as cp does), no two with the same base name (they become entries
/// of one directory). Sorted by name, the order of the manifest's root directory.
/// </summary>
internal sealed class ImageSet : IDisposable
{
    private readonly List<DirectoryHandle> _directories;

    private ImageSet(List<ImageFile> images, List<DirectoryHandle> directories)
    {
        Images = images;
        _directories = directories;
    }

    public IReadOnlyList<ImageFile> Images { get; }

    public IReadOnlyList<string> Paths => [.. Images.Select(i => i.Path)];

    public static ImageSet Open(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0)
        {
            throw new UsageException("give at least one image file");
        }

        var directories = new Dictionary<string, DirectoryHandle>(StringComparer.Ordinal);
        var images = new List<ImageFile>(paths.Count);
        var path = "";
        try
        {
            foreach (var given in paths)
            {
                path = System.IO.Path.GetFullPath(given);
                var resolved = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
                var name = Encoding.UTF8.GetBytes(System.IO.Path.GetFileName(path));
                if (!ManifestValidator.IsValidName(name))
                {
                    throw new UsageException($"'{path}' is not a file name an image can have");
                }

                var directoryPath = System.IO.Path.GetDirectoryName(resolved) ?? "/";
                if (!directories.TryGetValue(directoryPath, out var directory))
                {
                    directory = new DirectoryHandle(LinuxFile.OpenDirectory(directoryPath), Encoding.UTF8.GetBytes(directoryPath));
                    directories.Add(directoryPath, directory);
                }

                var fileName = Encoding.UTF8.GetBytes(System.IO.Path.GetFileName(resolved));
                var stat = LinuxFile.Stat(directory.Descriptor, fileName);
                if (stat.Kind != FileKind.Regular)
                {
                    throw new UsageException($"the image '{path}' is not a regular file");
                }

                images.Add(new ImageFile(path, name, directory, fileName, stat, LinuxFile.ReadXattrs(directory.Descriptor, fileName)));
            }
        }
        catch (Exception e) when (e is LinuxIOException or IOException or UnauthorizedAccessException)
        {
            Release(directories.Values);
            var why = e is FileNotFoundException or DirectoryNotFoundException || e is LinuxIOException { Errno: Errno.ENOENT } ? "no such file" : e.Message;
            throw new UsageException($"cannot snapshot the image '{path}': {why}");
        }
        catch
        {
            Release(directories.Values);
            throw;
        }

        images.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        for (var i = 1; i < images.Count; i++)
        {
            if (images[i].Name.AsSpan().SequenceEqual(images[i - 1].Name))
            {
                Release(directories.Values);
                throw new UsageException($"two images are named '{Manifest.Display(images[i].Name)}' ('{images[i - 1].Path}' and '{images[i].Path}'): an image snapshot holds its files by base name");
            }
        }

        return new ImageSet(images, [.. directories.Values]);
    }

    /// <summary>The root directory that holds the images (<see cref="RootEntry(uint, uint, long)"/>).</summary>
    public EntryRecord RootEntry() => RootEntry(Images[0].Stat.Uid, Images[0].Stat.Gid, Images.Max(i => i.Stat.MTimeNs));

    /// <summary>
    /// The root directory of an image snapshot. It has no source on disk, so its metadata derives from the images
    /// (owner of the first by name, the latest mtime): unchanged images then give the same tree hash, whichever way
    /// the images were taken (files named, or a writable mount's changes).
    /// </summary>
    public static EntryRecord RootEntry(uint firstUid, uint firstGid, long latestMTimeNs) => new()
    {
        Kind = EntryKind.Directory,
        Mode = 0b111_101_101,
        Uid = firstUid,
        Gid = firstGid,
        MTimeNs = latestMTimeNs,
    };

    public void Dispose() => Release(_directories);

    private static void Release(IEnumerable<DirectoryHandle> directories)
    {
        foreach (var directory in directories)
        {
            directory.Release();
        }
    }
}
