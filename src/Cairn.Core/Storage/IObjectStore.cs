namespace Cairn.Storage;

/// <summary>
/// A flat key/value object store: the only thing a Cairn repository needs from the place it lives in.
/// Keys are ASCII paths such as <c>packs/ab/ab12…</c>. Implementations: <see cref="LocalObjectStore"/>
/// (a directory) and the S3 store in <c>Cairn.Storage.S3</c>.
/// </summary>
/// <remarks>
/// Contract every implementation keeps:
/// <list type="bullet">
/// <item>A write is atomic: a reader sees the whole new object or nothing of it, never a prefix.</item>
/// <item>Writes of content-addressed objects are idempotent; rewriting the same key with the same bytes is harmless.</item>
/// <item>Mutable objects (tags, the config) are written with a <see cref="WriteCondition"/> so two writers never silently overwrite each other.</item>
/// <item>Missing objects raise <see cref="ObjectNotFoundException"/>; any other failure raises <see cref="StoreException"/> naming the key and the cause.</item>
/// </list>
/// </remarks>
public interface IObjectStore : IAsyncDisposable
{
    /// <summary>Where the store lives, for messages: a path or <c>s3://bucket/prefix</c>.</summary>
    string Location { get; }

    /// <summary>Request counters, for <c>--json</c> reports and benchmarks.</summary>
    StoreStatistics Statistics { get; }

    /// <summary>Reads the whole object.</summary>
    ValueTask<byte[]> ReadAllAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Reads the whole object and the opaque version token that <see cref="WriteCondition.IfMatch"/> takes.</summary>
    ValueTask<VersionedObject> ReadVersionedAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads exactly <c>buffer.Length</c> bytes starting at <paramref name="offset"/> (one ranged GET).
    /// A range past the end of the object is a <see cref="StoreException"/>.
    /// </summary>
    ValueTask ReadRangeAsync(string key, long offset, Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>The size of the object, or <c>null</c> when it does not exist.</summary>
    ValueTask<long?> TryGetSizeAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes an object atomically. With <see cref="WriteCondition.None"/> an existing object is replaced;
    /// with a condition that does not hold, <see cref="PreconditionFailedException"/> is thrown and nothing changes.
    /// </summary>
    ValueTask PutAsync(string key, ReadOnlyMemory<byte> data, WriteCondition condition = default, CancellationToken cancellationToken = default);

    /// <summary>Deletes an object; deleting a missing object is not an error.</summary>
    ValueTask DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Lists the objects whose key starts with <paramref name="prefix"/>, in no particular order.</summary>
    IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default);
}

/// <summary>An object's key and size, as a listing returns them.</summary>
public readonly record struct ObjectInfo(string Key, long Size);

/// <summary>An object's bytes and its version token (an ETag on S3, a content hash locally).</summary>
public sealed record VersionedObject(byte[] Data, string Version);

/// <summary>The precondition of a write.</summary>
public readonly record struct WriteCondition
{
    private WriteCondition(WriteConditionKind kind, string? version)
    {
        Kind = kind;
        Version = version;
    }

    public WriteConditionKind Kind { get; }

    /// <summary>The version the object must still have, for <see cref="WriteConditionKind.IfMatch"/>.</summary>
    public string? Version { get; }

    /// <summary>Write unconditionally.</summary>
    public static WriteCondition None => default;

    /// <summary>Create only: fail if the object exists (<c>If-None-Match: *</c>).</summary>
    public static WriteCondition IfAbsent => new(WriteConditionKind.IfAbsent, null);

    /// <summary>Replace only the version that was read (<c>If-Match</c>).</summary>
    public static WriteCondition IfMatch(string version) => new(WriteConditionKind.IfMatch, version);
}

public enum WriteConditionKind
{
    None,
    IfAbsent,
    IfMatch,
}
