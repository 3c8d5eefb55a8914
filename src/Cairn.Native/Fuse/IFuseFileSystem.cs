using Cairn.Native.Linux;
namespace Cairn.Native.Fuse;

/// <summary>
/// A read-only, inode-based file system served through the FUSE low-level API. Inode 1 is the root.
/// Methods returning <see cref="int"/> return 0 on success or a positive errno (see <see cref="Linux.Errno"/>);
/// any other value, or an exception, is reported and turned into EIO. Calls arrive concurrently from
/// libfuse's worker threads, so implementations must be thread-safe, and must not block on
/// <see cref="FuseMount.Unmount"/>.
/// </summary>
public interface IFuseFileSystem
{
    /// <summary>
    /// Looks up <paramref name="name"/> (raw bytes, not necessarily UTF-8) in directory <paramref name="parent"/>.
    /// Returning <see cref="Errno.ENOENT"/> with a positive <see cref="FuseEntry.EntryTimeoutSeconds"/> makes the
    /// kernel cache the negative lookup for that long.
    /// </summary>
    int Lookup(ulong parent, ReadOnlySpan<byte> name, out FuseEntry entry);

    /// <summary>Returns the attributes of <paramref name="inode"/> and how long the kernel may cache them.</summary>
    int GetAttr(ulong inode, out FuseAttr attr, out double attrTimeoutSeconds);

    /// <summary>Returns the target of a symbolic link (no NUL bytes; at most 4095 bytes).</summary>
    int ReadLink(ulong inode, out ReadOnlySpan<byte> target);

    /// <summary>
    /// Opens a file for reading (opens for writing are refused with EROFS before this is called).
    /// <paramref name="keepCache"/> lets the kernel keep the page cache across opens (right for immutable data).
    /// Returning <see cref="Errno.ENOSYS"/> makes every open succeed in the kernel from then on, with no OPEN or
    /// RELEASE request at all (zero-message opens), handle 0 and the page cache kept: the cheapest choice for a
    /// file system that needs no per-open state.
    /// </summary>
    int Open(ulong inode, out ulong handle, out bool keepCache);

    /// <summary>
    /// Opens a directory; <paramref name="cacheEntries"/> lets the kernel cache its listing (cache_readdir + keep_cache).
    /// Returning <see cref="Errno.ENOSYS"/> turns OPENDIR and RELEASEDIR off for good, with listings cached.
    /// </summary>
    int OpenDir(ulong inode, out ulong handle, out bool cacheEntries);

    /// <summary>
    /// Lists directory <paramref name="inode"/> starting after cookie <paramref name="offset"/> (0 = from the start):
    /// call <see cref="FuseDirectoryWriter.TryAdd"/> for each child in a stable order, passing the cookie of the
    /// <em>next</em> entry, until it returns false (buffer full) or the directory is exhausted.
    /// </summary>
    int ReadDirectory(ulong inode, ulong handle, long offset, ref FuseDirectoryWriter writer);

    /// <summary>
    /// Reads up to <paramref name="size"/> bytes at <paramref name="offset"/>. Complete <paramref name="reply"/> exactly
    /// once, now or later from any thread (for example after fetching the data from object storage). A reply shorter
    /// than <paramref name="size"/> means end of file. The data is copied to the kernel before
    /// <see cref="FuseReadReply.Data(ReadOnlySpan{byte})"/> returns, so pooled buffers can be returned right after.
    /// </summary>
    void Read(ulong inode, ulong handle, long offset, int size, FuseReadReply reply);

    /// <summary>
    /// Answers lseek(2) with SEEK_DATA or SEEK_HOLE on a regular file, as lseek(2) defines them: the first offset at
    /// or after <paramref name="offset"/> that holds data, or that is in a hole (the end of file counts as one);
    /// ENXIO for an offset at or past the end of file, and for SEEK_DATA in a hole that runs to the end. The kernel
    /// answers SEEK_SET, SEEK_CUR and SEEK_END itself and never sends them. Returning <see cref="Errno.ENOSYS"/> (the
    /// default) turns FUSE_LSEEK off for the whole mount: the kernel then reports every file as data throughout.
    /// </summary>
    int Seek(ulong inode, ulong handle, long offset, FuseSeekWhence whence, out long position)
    {
        position = 0;
        return Errno.ENOSYS;
    }

    /// <summary>Returns the value of extended attribute <paramref name="name"/>, or ENODATA. The size-probe protocol is handled by the layer.</summary>
    int GetXattr(ulong inode, ReadOnlySpan<byte> name, out ReadOnlySpan<byte> value);

    /// <summary>Returns the extended attribute names of <paramref name="inode"/>, each followed by a NUL byte.</summary>
    int ListXattr(ulong inode, out ReadOnlySpan<byte> namesNulSeparated);

    /// <summary>Returns file-system statistics (statfs/df).</summary>
    int StatFs(out FuseStatFs stats);

    /// <summary>The kernel dropped <paramref name="lookupCount"/> references to <paramref name="inode"/>.</summary>
    void Forget(ulong inode, ulong lookupCount)
    {
    }

    /// <summary>The last reference to an open file handle was closed.</summary>
    void Release(ulong inode, ulong handle)
    {
    }

    /// <summary>A directory handle was closed.</summary>
    void ReleaseDir(ulong inode, ulong handle)
    {
    }
}
