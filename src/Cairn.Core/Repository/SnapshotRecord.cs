using System.Text.Json;
using System.Text.Json.Serialization;
using Cairn.Format;

namespace Cairn.Repository;

/// <summary>
/// The <c>snapshots/&lt;id&gt;</c> object: what a snapshot is (its tree hash) and the facts about it. Its id is the
/// SHA-256 of the stored JSON bytes, so a record can never change without changing its id.
/// </summary>
public sealed record SnapshotRecord
{
    public int Version { get; init; } = 1;

    public const string TreeKind = "tree";

    public const string ImageKind = "image";

    /// <summary>
    /// <see cref="TreeKind"/> for a directory snapshot; <see cref="ImageKind"/> for VM images, held as the files of
    /// the tree's root directory and cut into fixed blocks.
    /// </summary>
    public string Kind { get; init; } = TreeKind;

    /// <summary>The tree hash (hex): identity of the content, and the name of its manifest object.</summary>
    public required string Tree { get; init; }

    public string? Parent { get; init; }

    public DateTimeOffset Time { get; init; }

    public string Host { get; init; } = "";

    public string User { get; init; } = "";

    /// <summary>The absolute path that was snapshotted (image snapshots: the image paths, space-separated, for display).</summary>
    public string Source { get; init; } = "";

    /// <summary>Image snapshots: the absolute paths of the images, in entry order. Absent for trees (and in older records).</summary>
    public IReadOnlyList<string>? Paths { get; init; }

    public IReadOnlyList<string> Tags { get; init; } = [];

    public SnapshotStats Stats { get; init; } = new();

    [JsonIgnore]
    public ContentId Id { get; private set; }

    [JsonIgnore]
    public ContentId TreeHash => ContentId.Parse(Tree);

    [JsonIgnore]
    public ContentId? ParentId => Parent is null ? null : ContentId.Parse(Parent);

    /// <summary>The stored bytes; also sets <see cref="Id"/>.</summary>
    public byte[] Serialize()
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(this, CairnJsonContext.Default.SnapshotRecord);
        Id = ContentId.Hash(bytes);
        return bytes;
    }

    /// <summary>Parses a stored record and checks it is the one named <paramref name="expectedId"/>.</summary>
    public static SnapshotRecord Parse(ReadOnlySpan<byte> bytes, ContentId expectedId)
    {
        var actual = ContentId.Hash(bytes);
        if (actual != expectedId)
        {
            throw new CorruptDataException($"snapshot record {expectedId.ToShortString()} is corrupt (its content hashes to {actual.ToShortString()})");
        }

        SnapshotRecord? record;
        try
        {
            record = JsonSerializer.Deserialize(bytes, CairnJsonContext.Default.SnapshotRecord);
        }
        catch (JsonException e)
        {
            throw new CorruptDataException($"snapshot record {expectedId.ToShortString()} is not valid JSON: {e.Message}", e);
        }

        if (record is null || !ContentId.TryParse(record.Tree, out _) || (record.Parent is not null && !ContentId.TryParse(record.Parent, out _)))
        {
            throw new CorruptDataException($"snapshot record {expectedId.ToShortString()} is invalid");
        }

        record.Id = expectedId;
        return record;
    }
}

/// <summary>Counts and sizes of one snapshot run.</summary>
public sealed record SnapshotStats
{
    public long Files { get; init; }

    public long Directories { get; init; }

    public long Symlinks { get; init; }

    public long Others { get; init; }

    /// <summary>Logical bytes of all regular files.</summary>
    public long Bytes { get; init; }

    /// <summary>Bytes of files that were read (not unchanged since the parent).</summary>
    public long BytesRead { get; init; }

    /// <summary>Uncompressed bytes of chunks new to the repository.</summary>
    public long NewBytes { get; init; }

    /// <summary>
    /// Uncompressed bytes of chunks the repository held, stored again because the parent used less than half of the
    /// frame they were in (absent when none; see docs/format.md, "Snapshot record").
    /// </summary>
    public long? RewrittenBytes { get; init; }

    /// <summary><see cref="Relayout"/> value: the run was asked to store everything again (<c>--relayout</c>).</summary>
    public const string RelayoutRequested = "requested";

    /// <summary><see cref="Relayout"/> value: the run stored images again whole whose parent versions left more unused bytes than the bound (<c>--relayout-above</c>).</summary>
    public const string RelayoutBound = "bound";

    /// <summary>
    /// Why the run stored files again whole, in fresh frames: <see cref="RelayoutRequested"/> (every file) or
    /// <see cref="RelayoutBound"/> (the images past the bound); absent for a run that did not.
    /// </summary>
    public string? Relayout { get; init; }

    /// <summary>Bytes read that were all-zero blocks and left out (image snapshots; holes are not read at all).</summary>
    public long ZeroBytes { get; init; }

    /// <summary>Bytes written to the store (packs, index, manifest, record).</summary>
    public long StoredBytes { get; init; }

    public long Chunks { get; init; }

    public long NewChunks { get; init; }

    public long UnchangedFiles { get; init; }

    public double Seconds { get; init; }
}

/// <summary>The <c>tags/&lt;name&gt;</c> object: a mutable name for a snapshot.</summary>
public sealed record TagRecord
{
    public required string Snapshot { get; init; }

    public DateTimeOffset Time { get; init; }
}
