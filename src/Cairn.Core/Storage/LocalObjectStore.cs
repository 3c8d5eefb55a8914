using System.Runtime.CompilerServices;
using Cairn.IO;
using Cairn.Native.Hashing;
using Cairn.Threading;

namespace Cairn.Storage;

/// <summary>
/// An object store in a local directory: one file per object, key = relative path.
/// Writes go to a temporary file that is flushed to disk and then renamed into place, so an object
/// is either absent or complete, also after a crash. Reads and writes wait for the disk on threads of the store's own
/// (<see cref="BlockingIoScheduler"/>), never on the thread pool, whose few threads a mount's decoding, a restore's
/// readers and a snapshot's compression need; a caller on a thread of its own waits on that thread, at its own
/// priorities (a mount's background fetches: nice 19).
/// </summary>
public sealed class LocalObjectStore : IObjectStore
{
    private const string TempDirectoryName = ".tmp";

    // Enough for the reads in flight of a restore or of a mount's readers, and a snapshot's pack writes.
    private const int IoThreads = 16;

    private readonly BlockingIoScheduler _io = new(IoThreads, "cairn-store");
    private readonly string _root;
    private readonly string _tempDirectory;
    private bool _tempSwept;

    public LocalObjectStore(string root)
    {
        _root = Path.GetFullPath(root);
        _tempDirectory = Path.Combine(_root, TempDirectoryName);
    }

    public string Location => _root;

    public StoreStatistics Statistics { get; } = new();

    public async ValueTask<byte[]> ReadAllAsync(string key, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        try
        {
            var data = await _io.RunOffThePool(() => File.ReadAllBytes(path), cancellationToken).ConfigureAwait(false);
            Statistics.CountGet(data.Length);
            return data;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ObjectNotFoundException(key, _root);
        }
        catch (IOException e)
        {
            throw new StoreException(key, $"cannot read '{key}' in {_root}: {e.Message}", e);
        }
    }

    public async ValueTask<VersionedObject> ReadVersionedAsync(string key, CancellationToken cancellationToken = default)
    {
        var data = await ReadAllAsync(key, cancellationToken).ConfigureAwait(false);
        return new VersionedObject(data, VersionOf(data));
    }

    public async ValueTask ReadRangeAsync(string key, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        try
        {
            await _io.RunOffThePool(() => ReadRange(key, path, offset, buffer.Span), cancellationToken).ConfigureAwait(false);
            Statistics.CountGet(buffer.Length);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ObjectNotFoundException(key, _root);
        }
        catch (IOException e)
        {
            throw new StoreException(key, $"cannot read '{key}' in {_root}: {e.Message}", e);
        }
    }

    public ValueTask<long?> TryGetSizeAsync(string key, CancellationToken cancellationToken = default)
    {
        Statistics.CountHead();
        var info = new FileInfo(PathOf(key));
        return ValueTask.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public async ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        await _io.RunOffThePool(() => Put(key, path, data.Span, condition), cancellationToken).ConfigureAwait(false);
        Statistics.CountPut(data.Length);
    }

    private void Put(string key, string path, ReadOnlySpan<byte> data, WriteCondition condition)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = WriteTemp(key, data);
        try
        {
            switch (condition.Kind)
            {
                case WriteConditionKind.None:
                    File.Move(temp, path, overwrite: true);
                    break;
                case WriteConditionKind.IfAbsent:
                    // Without overwrite, .NET moves with link(2)+unlink(2): atomic create-only.
                    try
                    {
                        File.Move(temp, path, overwrite: false);
                    }
                    catch (IOException) when (File.Exists(path))
                    {
                        throw new PreconditionFailedException(key, $"'{key}' already exists in {_root}");
                    }

                    break;
                case WriteConditionKind.IfMatch:
                    ReplaceIfMatch(key, path, temp, condition.Version!);
                    break;
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        Statistics.CountDelete();
        File.Delete(PathOf(key));
        return ValueTask.CompletedTask;
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Statistics.CountList();
        // Keys are paths: list the deepest directory the prefix names, then filter.
        var slash = prefix.LastIndexOf('/');
        var directory = slash < 0 ? _root : Path.Combine(_root, prefix[..slash]);
        if (!Directory.Exists(directory))
        {
            yield break;
        }

        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", options))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var key = Path.GetRelativePath(_root, file.FullName);
            if (key.StartsWith(TempDirectoryName + "/", StringComparison.Ordinal) || !key.StartsWith(prefix, StringComparison.Ordinal) || key.EndsWith(".lock", StringComparison.Ordinal))
            {
                continue;
            }

            yield return new ObjectInfo(key, file.Length);
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        _io.Dispose();
        return ValueTask.CompletedTask;
    }

    private void ReadRange(string key, string path, long offset, Span<byte> buffer)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var total = 0;
        while (total < buffer.Length)
        {
            var n = RandomAccess.Read(handle, buffer[total..], offset + total);
            if (n == 0)
            {
                throw new StoreException(key, $"range {offset}+{buffer.Length} is past the end of '{key}' in {_root}");
            }

            total += n;
        }
    }

    private static string VersionOf(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(Sha256.HashData(data))[..32];

    private void ReplaceIfMatch(string key, string path, string temp, string version)
    {
        // An exclusive lock file serialises compare-and-swap between processes (.NET takes flock(2) for FileShare.None).
        using var lockFile = FileLock.Acquire(path + ".lock", attempts: 200, TimeSpan.FromMilliseconds(10));
        byte[] current;
        try
        {
            current = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new PreconditionFailedException(key, $"'{key}' no longer exists in {_root}");
        }

        if (!string.Equals(VersionOf(current), version, StringComparison.Ordinal))
        {
            throw new PreconditionFailedException(key, $"'{key}' was changed by another writer");
        }

        File.Move(temp, path, overwrite: true);
    }

    private string WriteTemp(string key, ReadOnlySpan<byte> data)
    {
        if (!_tempSwept)
        {
            SweepTemp();
        }

        Directory.CreateDirectory(_tempDirectory);
        var temp = Path.Combine(_tempDirectory, Guid.NewGuid().ToString("N"));
        try
        {
            // Past the page cache: a pack is read back rarely, and in ranges (see UncachedFile).
            UncachedFile.Create(temp, data, durable: true);
            return temp;
        }
        catch (IOException e)
        {
            File.Delete(temp);
            throw new StoreException(key, $"cannot write '{key}' in {_root}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Removes temporary files a killed writer left behind. Only old ones: a younger one may belong to a writer that
    /// is still running in another process.
    /// </summary>
    private void SweepTemp()
    {
        _tempSwept = true;
        try
        {
            var cutoff = DateTime.UtcNow - TimeSpan.FromHours(1);
            foreach (var file in new DirectoryInfo(_tempDirectory).EnumerateFiles())
            {
                if (file.LastWriteTimeUtc < cutoff)
                {
                    file.Delete();
                }
            }
        }
        catch (IOException)
        {
            // Best effort: debris costs space, never correctness.
        }
    }

    private string PathOf(string key)
    {
        if (key.Length == 0 || key.StartsWith('/') || key.Contains("..", StringComparison.Ordinal) || key.StartsWith(TempDirectoryName, StringComparison.Ordinal))
        {
            throw new StoreException(key, $"invalid object key '{key}'");
        }

        return Path.Combine(_root, key);
    }
}
