using System.Buffers.Binary;
using Cairn.Format;
using Cairn.IO;
using Cairn.Repository;
using Microsoft.Win32.SafeHandles;

namespace Cairn.Mount;

/// <summary>
/// Decompressed frames on local disk, one file per frame, shared by every mount of one repository (every process),
/// kept across remounts, with a size limit enforced by evicting the least recently used frames.
/// </summary>
/// <remarks>
/// <para>Why decompressed: a lazy read of a small file is latency-bound. With decompressed frames a read is one
/// <c>pread</c> of the bytes it needs (plus one SHA-256 of the chunk the first time), and a frame stays useful for
/// reads in any order; compressed frames would cost a 2 MiB decompression for every 4 KiB read whose frame is not in
/// memory, and a tree walk (tar, find + cat) visits frames out of pack order many times. The price is space: a fully
/// hydrated snapshot takes its logical size (about 4× its compressed size), which the limit bounds.</para>
/// <para>Layout under <c>ROOT/REPO-ID/</c>: <c>frames/PP/PACK-OFFSET</c> (PACK the pack id in hex, PP its first two
/// digits, OFFSET the frame's offset in the pack in hex; packs are immutable, so the name fixes the content),
/// <c>tmp/</c> for files being written, <c>ledger</c>: the bytes held (8 bytes, little-endian).</para>
/// <para>Concurrency: a frame is written to <c>tmp/</c> and renamed into place, so a reader never sees part of one.
/// The ledger is updated under an exclusive <c>flock</c>, so concurrent processes share one count; eviction (oldest
/// modification time first: a use touches the file) rescans the directory under the same lock and tolerates files
/// another process already removed. A reader holding a file open keeps its data even if it is evicted meanwhile.
/// Data read back is verified by the reader (chunk SHA-256), so a damaged file is detected, dropped and refetched.</para>
/// </remarks>
internal sealed class FrameCache
{
    private static readonly TimeSpan s_staleTemp = TimeSpan.FromHours(1);
    private readonly Lock _lock = new();
    private readonly string _frames;
    private readonly string _temp;
    private readonly string _ledger;
    private bool _scanned;

    private FrameCache(string directory, long limit)
    {
        Directory = directory;
        Limit = limit;
        _frames = Path.Combine(directory, "frames");
        _temp = Path.Combine(directory, "tmp");
        _ledger = Path.Combine(directory, "ledger");
    }

    /// <summary>The repository's cache directory.</summary>
    public string Directory { get; }

    /// <summary>Most bytes of frames the cache holds.</summary>
    public long Limit { get; }

    /// <summary>The cache of repository <paramref name="repositoryId"/> under <paramref name="root"/>; null when <paramref name="limit"/> is 0.</summary>
    public static FrameCache? Open(string root, string repositoryId, long limit)
    {
        if (limit <= 0)
        {
            return null;
        }

        var directory = LocalCache.DirectoryOf(root, repositoryId);
        try
        {
            System.IO.Directory.CreateDirectory(Path.Combine(directory, "frames"));
            System.IO.Directory.CreateDirectory(Path.Combine(directory, "tmp"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CairnException($"cannot create the mount's cache in '{directory}' (--cache-dir): {e.Message}", e);
        }

        return new FrameCache(directory, limit);
    }

    public bool Contains(ContentId pack, long offset) => File.Exists(PathOf(pack, offset));

    /// <summary>Opens a cached frame for reading, or returns null if it is not cached (or has the wrong size: then it is dropped).</summary>
    public SafeFileHandle? TryOpen(ContentId pack, long offset, int length)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(PathOf(pack, offset), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        if (RandomAccess.GetLength(handle) != length)
        {
            handle.Dispose();
            Remove(pack, offset);
            return null;
        }

        return handle;
    }

    /// <summary>Marks a cached frame as just used, for eviction order.</summary>
    public static void Touch(SafeFileHandle handle)
    {
        try
        {
            File.SetLastWriteTimeUtc(handle, DateTime.UtcNow);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another user's cache file: it is still readable; its eviction order is just less exact.
        }
    }

    /// <summary>
    /// Stores a frame (atomically: temp file, then rename), evicting the least recently used frames to stay within
    /// <see cref="Limit"/>. False if it cannot be stored (larger than the limit).
    /// </summary>
    public bool TryStore(ContentId pack, long offset, ReadOnlySpan<byte> data)
    {
        if (data.Length > Limit)
        {
            return false;
        }

        var destination = PathOf(pack, offset);
        if (File.Exists(destination))
        {
            return true;
        }

        var temp = Path.Combine(_temp, Guid.NewGuid().ToString("N"));
        try
        {
            // Past the page cache (see UncachedFile): what a mount reads is in the kernel's cache of the mount already.
            UncachedFile.Create(temp, data, durable: false);

            using var ledger = LockLedger();
            if (File.Exists(destination))
            {
                return true;
            }

            var used = ReadLedger(ledger);
            if (used < 0 || used + data.Length > Limit)
            {
                // Evict a little more than needed, so a full cache does not rescan for every frame it adds.
                used = Evict(Math.Max(0, Limit - data.Length - (Limit / 16)));
            }

            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Move(temp, destination, overwrite: true);
            WriteLedger(ledger, used + data.Length);
            return true;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Drops a cached frame (it failed verification or has the wrong size).</summary>
    public void Remove(ContentId pack, long offset)
    {
        var path = PathOf(pack, offset);
        using var ledger = LockLedger();
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return;
        }

        var length = info.Length;
        File.Delete(path);
        var used = ReadLedger(ledger);
        WriteLedger(ledger, used < 0 ? -1 : Math.Max(0, used - length));
    }

    /// <summary>Bytes the ledger says the cache holds (-1 if unknown).</summary>
    public long UsedBytes()
    {
        using var ledger = LockLedger();
        return ReadLedger(ledger);
    }

    private string PathOf(ContentId pack, long offset)
    {
        var hex = pack.ToString();
        return Path.Combine(_frames, hex[..2], $"{hex}-{offset:x}");
    }

    /// <summary>
    /// Rescans the frames (the ledger may have drifted: a process died between rename and update, files were removed
    /// by hand) and deletes the least recently used until at most <paramref name="target"/> bytes remain. Runs under the ledger lock.
    /// </summary>
    private long Evict(long target)
    {
        var files = new List<(string Path, long Length, DateTime Used)>();
        long used = 0;
        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 };
        foreach (var file in new DirectoryInfo(_frames).EnumerateFiles("*", options))
        {
            try
            {
                files.Add((file.FullName, file.Length, file.LastWriteTimeUtc));
                used += file.Length;
            }
            catch (FileNotFoundException)
            {
                // Removed by another process between listing and stat.
            }
        }

        files.Sort((a, b) => a.Used.CompareTo(b.Used));
        foreach (var (path, length, _) in files)
        {
            if (used <= target)
            {
                break;
            }

            File.Delete(path); // no error if another process removed it first
            used -= length;
        }

        if (!_scanned)
        {
            _scanned = true;
            RemoveStaleTemporaryFiles();
        }

        return used;
    }

    private void RemoveStaleTemporaryFiles()
    {
        foreach (var file in new DirectoryInfo(_temp).EnumerateFiles())
        {
            try
            {
                if (DateTime.UtcNow - file.LastWriteTimeUtc > s_staleTemp)
                {
                    file.Delete();
                }
            }
            catch (IOException)
            {
                // Someone else's; left alone.
            }
        }
    }

    /// <summary>The ledger file, opened with an exclusive lock (flock) that serialises updates between processes and threads.</summary>
    private LedgerLock LockLedger()
    {
        _lock.Enter();
        try
        {
            // Another process holds it briefly (an update or an eviction scan).
            return new LedgerLock(this, FileLock.Acquire(_ledger, attempts: 5000, TimeSpan.FromMilliseconds(1)));
        }
        catch
        {
            _lock.Exit();
            throw;
        }
    }

    private long ReadLedger(LedgerLock ledger)
    {
        Span<byte> bytes = stackalloc byte[8];
        if (!_scanned || RandomAccess.Read(ledger.Stream.SafeFileHandle, bytes, 0) != 8)
        {
            return -1; // unknown: the first store of a process rescans, which also fixes any drift
        }

        return BinaryPrimitives.ReadInt64LittleEndian(bytes);
    }

    private static void WriteLedger(LedgerLock ledger, long used)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, used);
        RandomAccess.Write(ledger.Stream.SafeFileHandle, bytes, 0);
    }

    private readonly struct LedgerLock(FrameCache owner, FileStream stream) : IDisposable
    {
        public FileStream Stream { get; } = stream;

        public void Dispose()
        {
            Stream.Dispose();
            owner._lock.Exit();
        }
    }
}
