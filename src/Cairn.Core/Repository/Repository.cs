using System.Collections.Concurrent;
using System.Text.Json;
using Cairn.Diagnostics;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Storage;

namespace Cairn.Repository;

/// <summary>
/// A Cairn repository in an <see cref="IObjectStore"/>: its config, snapshots, tags, manifests and index.
/// Snapshotting and restoring live in <c>Cairn.Snapshot.Archiver</c> and <c>Cairn.Restore.Restorer</c>; this class
/// is what both share: reading and writing the repository's objects in the documented format.
/// </summary>
public sealed class Repository : IAsyncDisposable
{
    private Repository(IObjectStore store, RepositoryConfig config)
    {
        Store = store;
        Config = config;
    }

    public IObjectStore Store { get; }

    public RepositoryConfig Config { get; }

    /// <summary>Creates a new repository in an empty store. Fails if one already exists there.</summary>
    public static async Task<Repository> InitAsync(IObjectStore store, RepositoryConfig? config = null, CancellationToken cancellationToken = default)
    {
        config ??= new RepositoryConfig();
        RepositoryConfig.Parse(config.Serialize(), store.Location); // validates the parameters

        // The create-only write below is what settles a race of two inits. This look first is for a store whose
        // server ignores conditions (S3 with the check turned off): there, the write alone would replace the config
        // of an existing repository.
        if (await store.TryGetSizeAsync(ObjectKeys.Config, cancellationToken).ConfigureAwait(false) is not null)
        {
            throw AlreadyExists(store);
        }

        try
        {
            await store.PutAsync(ObjectKeys.Config, config.Serialize(), WriteCondition.IfAbsent, cancellationToken).ConfigureAwait(false);
        }
        catch (PreconditionFailedException)
        {
            throw AlreadyExists(store);
        }

        return new Repository(store, config);

        static CairnException AlreadyExists(IObjectStore store) => new($"a repository already exists at {store.Location}");
    }

    /// <summary>Opens an existing repository.</summary>
    public static async Task<Repository> OpenAsync(IObjectStore store, CancellationToken cancellationToken = default)
    {
        byte[] bytes;
        try
        {
            bytes = await store.ReadAllAsync(ObjectKeys.Config, cancellationToken).ConfigureAwait(false);
            PhaseTrace.Mark("repository: config read");
        }
        catch (ObjectNotFoundException)
        {
            throw new CairnException($"no repository at {store.Location} (run 'cairn init' first)");
        }

        return new Repository(store, RepositoryConfig.Parse(bytes, store.Location));
    }

    /// <summary>
    /// Opens an existing repository and finds the snapshot <paramref name="reference"/> names in it (as
    /// <see cref="ResolveAsync"/>), reading the snapshot's tag and record alongside the config.
    /// </summary>
    /// <remarks>
    /// Naming a snapshot reads tags and snapshot records, which need the store and not the config; made one after the
    /// other, the three reads cost a remote store three round trips before the first byte of a manifest. The config
    /// still decides: when it fails (no repository there, a newer format), that is the error reported, and the
    /// resolution is cancelled and waited for, so nothing outlives the call.
    /// </remarks>
    public static async Task<(Repository Repository, SnapshotRecord Snapshot)> OpenAsync(IObjectStore store, string reference, CancellationToken cancellationToken = default)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // Resolution reads no config: a provisional instance with the defaults serves it until the real one is read.
        var resolution = new Repository(store, new RepositoryConfig()).ResolveAsync(reference, cancel.Token);
        Repository repository;
        try
        {
            repository = await OpenAsync(store, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await cancel.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(resolution).ConfigureAwait(false); // its outcome no longer matters, only that it ended
            throw;
        }

        return (repository, await resolution.ConfigureAwait(false));
    }

    /// <summary>
    /// Loads the chunk index: every index object, plus the trailers of packs that no index covers yet (left by an
    /// interrupted snapshot), so a re-run reuses everything already uploaded.
    /// </summary>
    public async Task<ChunkIndex> LoadIndexAsync(CancellationToken cancellationToken = default)
    {
        var index = new ChunkIndex();
        var indexKeys = new List<string>();
        await foreach (var info in Store.ListAsync(ObjectKeys.IndexPrefix, cancellationToken).ConfigureAwait(false))
        {
            indexKeys.Add(info.Key);
        }

        var loaded = new ConcurrentBag<(string Key, List<(ContentId Pack, PackIndex Index)> Packs)>();
        await Parallel.ForEachAsync(indexKeys, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (key, ct) =>
        {
            var bytes = await Store.ReadAllAsync(key, ct).ConfigureAwait(false);
            loaded.Add((key, IndexFile.Decode(bytes, key)));
        }).ConfigureAwait(false);

        // Deterministic order: the same chunk in two packs always resolves to the same one.
        foreach (var (_, packs) in loaded.OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            foreach (var (pack, packIndex) in packs)
            {
                index.AddPack(pack, packIndex);
            }
        }

        var orphans = new List<(ContentId Id, long Size)>();
        await foreach (var info in Store.ListAsync(ObjectKeys.PacksPrefix, cancellationToken).ConfigureAwait(false))
        {
            if (ObjectKeys.TryParseId(info.Key, out var id) && !index.ContainsPack(id))
            {
                orphans.Add((id, info.Size));
            }
        }

        var recovered = new ConcurrentBag<(ContentId, PackIndex)>();
        await Parallel.ForEachAsync(orphans, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (orphan, ct) =>
        {
            try
            {
                var packIndex = await ReadPackIndexAsync(orphan.Id, orphan.Size, ct).ConfigureAwait(false);
                if (packIndex.IsContiguous)
                {
                    recovered.Add((orphan.Id, packIndex));
                }

                // Otherwise a version 1 pack whose chunks do not fill their frames back to back, which no Cairn wrote:
                // the next index object could not list it. Passed over like a pack that does not verify.
            }
            catch (CorruptDataException)
            {
                // A pack that does not verify is never used for dedup; its chunks get written again.
            }
        }).ConfigureAwait(false);

        foreach (var (pack, packIndex) in recovered.OrderBy(r => r.Item1))
        {
            index.AddPack(pack, packIndex);
            index.RecoveredPacks.Add((pack, packIndex));
        }

        return index;
    }

    /// <summary>
    /// The segment size of each frame of <paramref name="m"/> that it does not use wholly (<paramref name="used"/>:
    /// <see cref="Manifest.UsedBytesByFrame"/>; <see cref="AsksSegmentSize"/>), where a restore decompresses only the
    /// segments it needs; 0 for the others, and for frames that are not segmented. The manifest gives it where it records
    /// it (SEGMENTSIZES); otherwise each frame's first bytes say it (<see cref="FrameSegments.SegmentSizeOf"/>), one small
    /// ranged read per frame, 16 at a time. A read that fails gives -1, which callers take as "not segmented" (they use
    /// the answer to choose or to report, and a pack that cannot be read is for a restore to report), or as a reason not
    /// to decide.
    /// </summary>
    public async Task<int[]> ReadSegmentSizesAsync(Manifest m, long[] used, CancellationToken cancellationToken = default)
    {
        var sizes = new int[m.Frames.Length];
        var unknown = new List<int>();
        for (var f = 0; f < sizes.Length; f++)
        {
            if (AsksSegmentSize(m.Frames[f], used[f]))
            {
                sizes[f] = m.KnownSegmentSize(f);
                if (sizes[f] < 0)
                {
                    unknown.Add(f);
                }
            }
        }

        await Parallel.ForEachAsync(unknown, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (f, ct) =>
        {
            var frame = m.Frames[f];
            var head = new byte[Math.Min(FrameSegments.HeadSize, (int)frame.CompressedLength)];
            try
            {
                await Store.ReadRangeAsync(ObjectKeys.Pack(m.Packs[frame.Pack]), frame.Offset, head, ct).ConfigureAwait(false);
                sizes[f] = FrameSegments.SegmentSizeOf(head);
            }
            catch (StoreException)
            {
                sizes[f] = -1;
            }
        }).ConfigureAwait(false);
        return sizes;
    }

    /// <summary>
    /// Whether <see cref="ReadSegmentSizesAsync"/> finds out the segment size of a frame of which a manifest uses
    /// <paramref name="used"/> bytes: only where it is not used wholly, since a whole frame decodes whole, and only
    /// where it is longer than a segment can be short.
    /// </summary>
    public static bool AsksSegmentSize(in FrameRecord frame, long used) =>
        frame.UncompressedLength > FrameSegments.MinSegmentSize && used < frame.UncompressedLength;

    /// <summary>Reads a pack's own index from its trailer (two ranged reads).</summary>
    public async Task<PackIndex> ReadPackIndexAsync(ContentId pack, long packSize, CancellationToken cancellationToken = default)
    {
        var key = ObjectKeys.Pack(pack);
        if (packSize < PackFormat.HeaderSize + PackFormat.TrailerSize)
        {
            throw new CorruptDataException($"pack {key} is truncated");
        }

        var trailer = new byte[PackFormat.TrailerSize];
        await Store.ReadRangeAsync(key, packSize - PackFormat.TrailerSize, trailer, cancellationToken).ConfigureAwait(false);
        var (offset, length, checksum, version) = PackFormat.ReadTrailer(trailer, packSize, key);
        var compressed = new byte[length];
        await Store.ReadRangeAsync(key, offset, compressed, cancellationToken).ConfigureAwait(false);
        return PackFormat.DecodeIndex(compressed, checksum, version, packSize, key);
    }

    public async Task<List<SnapshotRecord>> ListSnapshotsAsync(CancellationToken cancellationToken = default)
    {
        var ids = new List<ContentId>();
        await foreach (var info in Store.ListAsync(ObjectKeys.SnapshotsPrefix, cancellationToken).ConfigureAwait(false))
        {
            if (ObjectKeys.TryParseId(info.Key, out var id))
            {
                ids.Add(id);
            }
        }

        var records = new ConcurrentBag<SnapshotRecord>();
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (id, ct) =>
        {
            records.Add(await ReadSnapshotAsync(id, ct).ConfigureAwait(false));
        }).ConfigureAwait(false);
        return [.. records.OrderBy(r => r.Time).ThenBy(r => r.Id)];
    }

    public async Task<SnapshotRecord> ReadSnapshotAsync(ContentId id, CancellationToken cancellationToken = default) =>
        await TryReadSnapshotAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new UsageException($"no snapshot {id.ToShortString()} in {Store.Location}");

    /// <summary>The snapshot record <paramref name="id"/>, or null if there is none.</summary>
    public async Task<SnapshotRecord?> TryReadSnapshotAsync(ContentId id, CancellationToken cancellationToken = default)
    {
        byte[] bytes;
        try
        {
            bytes = await Store.ReadAllAsync(ObjectKeys.Snapshot(id), cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }

        return SnapshotRecord.Parse(bytes, id);
    }

    /// <summary>The reference that names the newest snapshot of the repository.</summary>
    public const string LatestReference = "latest";

    /// <summary>The fewest hex digits a reference needs to be read as an id prefix.</summary>
    public const int MinIdPrefixLength = 4;

    /// <summary>
    /// Words read as something other than a tag where a snapshot is named: <see cref="LatestReference"/> by
    /// <see cref="ResolveAsync"/>, and the <c>--parent</c> choices <c>auto</c> and <c>none</c>, which the archiver reads
    /// before any tag. A new tag may not have one of these names (<see cref="IsValidTagName"/>), in any case.
    /// </summary>
    public static IReadOnlyList<string> ReservedNames { get; } = [LatestReference, AutoParentReference, NoParentReference];

    /// <summary>The <c>--parent</c> choice that picks the parent (<c>Cairn.Snapshot.SnapshotOptions.AutoParent</c>).</summary>
    public const string AutoParentReference = "auto";

    /// <summary>The <c>--parent</c> choice: no parent (<c>Cairn.Snapshot.SnapshotOptions.NoParent</c>).</summary>
    public const string NoParentReference = "none";

    /// <summary>
    /// Finds a snapshot by full id, tag name, unique id prefix (at least <see cref="MinIdPrefixLength"/> lowercase hex
    /// digits), or <c>latest</c> (the newest snapshot).
    /// </summary>
    /// <remarks>
    /// New tags cannot look like an id prefix or be called <c>latest</c>, but a repository may hold such a tag from an
    /// earlier version. A reference that is both such a tag and a prefix (or <c>latest</c>) is followed only when both
    /// readings name the same snapshot; otherwise it is refused with what each reading names, since taking either one
    /// silently could restore the wrong snapshot. The ids listed are themselves references that do resolve.
    /// </remarks>
    public async Task<SnapshotRecord> ResolveAsync(string reference, CancellationToken cancellationToken = default)
    {
        if (ContentId.TryParse(reference, out var full))
        {
            return await ReadSnapshotAsync(full, cancellationToken).ConfigureAwait(false);
        }

        var tag = await TryReadTagAsync(reference, cancellationToken).ConfigureAwait(false);
        ContentId? tagged = tag is null ? null : ContentId.Parse(tag.Snapshot);
        var tagReading = $"the tag '{reference}' names";

        if (reference == LatestReference)
        {
            var all = await ListSnapshotsAsync(cancellationToken).ConfigureAwait(false);
            if (all.Count == 0)
            {
                // The tag's snapshot is missing too (none are listed): reading it gives that error.
                return tagged is { } lone ? await ReadSnapshotAsync(lone, cancellationToken).ConfigureAwait(false)
                    : throw new UsageException($"no snapshots in {Store.Location} yet");
            }

            var newest = all[^1];
            if (tagged is { } other && other != newest.Id)
            {
                var digits = ShortIdDigits([other, newest.Id]);
                throw new UsageException($"'{reference}' is ambiguous: {tagReading} {ShortId(other, digits)}, and the newest snapshot is {ShortId(newest.Id, digits)}");
            }

            return newest;
        }

        if (IsIdPrefix(reference))
        {
            var matches = new List<ContentId>();
            await foreach (var info in Store.ListAsync(ObjectKeys.SnapshotsPrefix, cancellationToken).ConfigureAwait(false))
            {
                if (ObjectKeys.TryParseId(info.Key, out var id) && id.ToString().StartsWith(reference, StringComparison.Ordinal))
                {
                    matches.Add(id);
                }
            }

            matches.Sort();
            List<ContentId> candidates = tagged is { } t && !matches.Contains(t) ? [t, .. matches] : matches;
            if (candidates.Count == 1)
            {
                return await ReadSnapshotAsync(candidates[0], cancellationToken).ConfigureAwait(false);
            }

            if (candidates.Count > 1)
            {
                var digits = ShortIdDigits(candidates);
                var matched = matches.Count == 1 ? $"snapshot {ShortId(matches[0], digits)}" : $"{matches.Count} snapshots ({ShortIds(matches, digits)})";
                throw new UsageException(tagged is { } named
                    ? $"'{reference}' is ambiguous: {tagReading} {ShortId(named, digits)}, and it matches {matched}"
                    : $"'{reference}' is ambiguous: it matches {matched}");
            }
        }

        if (tagged is { } target)
        {
            return await ReadSnapshotAsync(target, cancellationToken).ConfigureAwait(false);
        }

        throw new UsageException($"no snapshot or tag '{reference}' in {Store.Location}");
    }

    /// <summary>Whether <see cref="ResolveAsync"/> reads <paramref name="reference"/> (not a full id) as an id prefix.</summary>
    private static bool IsIdPrefix(string reference) => reference.Length >= MinIdPrefixLength && reference.All(char.IsAsciiHexDigitLower);

    /// <summary>
    /// How many digits of each id an error shows: the usual short form, longer when two of <paramref name="ids"/> share
    /// it, so every id listed is one the user can give back.
    /// </summary>
    private static int ShortIdDigits(IReadOnlyList<ContentId> ids)
    {
        var texts = ids.Select(i => i.ToString()).Order(StringComparer.Ordinal).ToList();
        var digits = 12;
        for (var i = 1; i < texts.Count; i++)
        {
            var shared = texts[i - 1].AsSpan().CommonPrefixLength(texts[i]);
            digits = Math.Max(digits, Math.Min(shared + 1, texts[i].Length));
        }

        return digits;
    }

    private static string ShortId(ContentId id, int digits) => id.ToShortString(digits);

    /// <summary>The ids as a list for an error line: at most ten, then how many more.</summary>
    private static string ShortIds(List<ContentId> ids, int digits)
    {
        const int shown = 10;
        var list = string.Join(", ", ids.Take(shown).Select(i => ShortId(i, digits)));
        return ids.Count > shown ? $"{list}, and {ids.Count - shown} more" : list;
    }

    /// <summary>Reads and verifies a snapshot's manifest, without <see cref="Manifest.Sources"/> (null).</summary>
    public Task<Manifest> ReadManifestAsync(SnapshotRecord snapshot, CancellationToken cancellationToken = default) =>
        ReadManifestAsync(snapshot, sources: false, cancellationToken);

    /// <summary>
    /// Reads and verifies a snapshot's manifest. With <paramref name="sources"/>, also what the files were when read
    /// (<see cref="Manifest.Sources"/>), which only a snapshot taken on top of this one uses; else that stays null.
    /// </summary>
    public async Task<Manifest> ReadManifestAsync(SnapshotRecord snapshot, bool sources, CancellationToken cancellationToken = default)
    {
        var key = ObjectKeys.Manifest(snapshot.TreeHash);
        byte[] bytes;
        try
        {
            bytes = await Store.ReadAllAsync(key, cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            throw new CorruptDataException($"snapshot {snapshot.Id.ToShortString()} has no manifest ({key} is missing)");
        }

        var manifest = ManifestCodec.Decode(bytes, key, sources);
        if (manifest.TreeHash != snapshot.TreeHash)
        {
            throw new CorruptDataException($"{key} does not hold the tree of snapshot {snapshot.Id.ToShortString()} (tree hash mismatch)");
        }

        return manifest;
    }

    /// <summary>
    /// The tag <paramref name="name"/>, or null if there is none. Any name an earlier version could store is read,
    /// including those <see cref="IsValidTagName"/> now refuses for a new tag.
    /// </summary>
    public async Task<TagRecord?> TryReadTagAsync(string name, CancellationToken cancellationToken = default)
    {
        if (!IsStoredTagName(name))
        {
            return null;
        }

        try
        {
            var bytes = await Store.ReadAllAsync(ObjectKeys.Tag(name), cancellationToken).ConfigureAwait(false);
            return ParseTag(bytes, name);
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Points a tag at a snapshot. The update is a compare-and-swap on the tag object, so two hosts moving the same
    /// tag at once never silently overwrite each other: the loser retries against the new value.
    /// </summary>
    /// <summary>
    /// Deletes the tag <paramref name="name"/> and returns what it named. Any stored tag, also one whose name a new tag
    /// may no longer have (an earlier version's <c>latest</c> or hex-named tag): the way out of an ambiguity it causes.
    /// The snapshot it named stays.
    /// </summary>
    public async Task<TagRecord> DeleteTagAsync(string name, CancellationToken cancellationToken = default)
    {
        var tag = await TryReadTagAsync(name, cancellationToken).ConfigureAwait(false) ?? throw new UsageException($"no tag '{name}' in {Store.Location}");
        await Store.DeleteAsync(ObjectKeys.Tag(name), cancellationToken).ConfigureAwait(false);
        return tag;
    }

    public async Task SetTagAsync(string name, ContentId snapshot, CancellationToken cancellationToken = default)
    {
        var key = ObjectKeys.Tag(name);
        var bytes = TagBytes(name, snapshot);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                VersionedObject? current = null;
                try
                {
                    current = await Store.ReadVersionedAsync(key, cancellationToken).ConfigureAwait(false);
                }
                catch (ObjectNotFoundException)
                {
                }

                var condition = current is null ? WriteCondition.IfAbsent : WriteCondition.IfMatch(current.Version);
                await Store.PutAsync(key, bytes, condition, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (PreconditionFailedException) when (attempt < 10)
            {
                // Someone else moved the tag between our read and write: read again.
            }
        }
    }

    /// <summary>Creates a tag that does not exist yet (a create-only write, so two hosts cannot both create it); false if it exists.</summary>
    public async Task<bool> TryCreateTagAsync(string name, ContentId snapshot, CancellationToken cancellationToken = default)
    {
        try
        {
            await Store.PutAsync(ObjectKeys.Tag(name), TagBytes(name, snapshot), WriteCondition.IfAbsent, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (PreconditionFailedException)
        {
            return false;
        }
    }

    /// <summary>
    /// The lineage of <paramref name="snapshot"/>: it, its parent, and so on up to a snapshot without one. If a
    /// parent record is gone, the chain stops before it and <c>MissingParent</c> names it.
    /// </summary>
    public async Task<(List<SnapshotRecord> Chain, string? MissingParent)> ReadLineageAsync(SnapshotRecord snapshot, CancellationToken cancellationToken = default)
    {
        var chain = new List<SnapshotRecord> { snapshot };
        while (chain[^1].ParentId is { } parent)
        {
            if (await TryReadSnapshotAsync(parent, cancellationToken).ConfigureAwait(false) is not { } record)
            {
                return (chain, parent.ToString());
            }

            chain.Add(record);
        }

        return (chain, null);
    }

    public async Task<List<(string Name, TagRecord Tag)>> ListTagsAsync(CancellationToken cancellationToken = default)
    {
        var tags = new List<(string, TagRecord)>();
        await foreach (var info in Store.ListAsync(ObjectKeys.TagsPrefix, cancellationToken).ConfigureAwait(false))
        {
            var name = info.Key[ObjectKeys.TagsPrefix.Length..];
            if (!IsStoredTagName(name))
            {
                continue; // a lock file (a local repository copied to S3), or a folder marker: not a tag
            }

            var tag = await TryReadTagAsync(name, cancellationToken).ConfigureAwait(false);
            if (tag is not null)
            {
                tags.Add((name, tag));
            }
        }

        return tags;
    }

    /// <summary>Whether a new tag may be called <paramref name="name"/> (<see cref="TagNameProblem"/>).</summary>
    public static bool IsValidTagName(string name) => TagNameProblem(name) is null;

    /// <summary>Throws a <see cref="UsageException"/> saying why a new tag may not be called <paramref name="name"/>, if it may not.</summary>
    public static void ValidateTagName(string name)
    {
        if (TagNameProblem(name) is { } problem)
        {
            throw new UsageException($"invalid tag name '{name}': {problem}");
        }
    }

    /// <summary>
    /// Why a new tag may not be called <paramref name="name"/>, or null if it may. Besides the characters a key allows,
    /// a name must not be readable as anything else where a snapshot is named, or the tag would silently take that
    /// meaning over: not 4 or more hex digits (an id prefix, <see cref="MinIdPrefixLength"/>; uppercase too, as a full
    /// id is read in either case and a person reads it as an id), and not a <see cref="ReservedNames">reserved word</see>
    /// in any case. Shorter all-hex names (<c>1</c>, <c>42</c>, <c>abc</c>) stay allowed: no prefix is that short.
    /// </summary>
    public static string? TagNameProblem(string name)
    {
        if (name.EndsWith(".lock", StringComparison.OrdinalIgnoreCase))
        {
            return "a name ending in '.lock' is a tag's lock file in a local repository";
        }

        if (!IsStoredTagName(name) && !IsAllHex(name))
        {
            return "use 1-128 letters, digits, '.', '_' and '-', not starting with '.'";
        }

        if (name.Length >= MinIdPrefixLength && IsAllHex(name))
        {
            return $"a name of {MinIdPrefixLength} or more hex digits reads as a snapshot id";
        }

        if (ReservedNames.FirstOrDefault(r => r.Equals(name, StringComparison.OrdinalIgnoreCase)) is { } reserved)
        {
            return reserved == LatestReference ? $"'{reserved}' is reserved: it names the newest snapshot" : $"'{reserved}' is reserved: it is a --parent choice";
        }

        return null;
    }

    /// <summary>
    /// The names a tag object may have: those earlier versions accepted, which are still read. Anything else is never
    /// looked up, so a reference cannot reach outside <c>tags/</c>. Not a name ending in <c>.lock</c>: a local
    /// repository keeps the lock of tag NAME (its compare-and-swap) in <c>tags/NAME.lock</c>, so a tag of that name
    /// would be another tag's lock, and a copy of such a repository to S3 holds those files as objects.
    /// </summary>
    private static bool IsStoredTagName(string name) =>
        name.Length is > 0 and <= 128 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-') && !ContentId.TryParse(name, out _)
        && !name.EndsWith(".lock", StringComparison.OrdinalIgnoreCase);

    private static bool IsAllHex(string name) => name.Length > 0 && name.All(char.IsAsciiHexDigit);

    public ValueTask DisposeAsync() => Store.DisposeAsync();

    private static byte[] TagBytes(string name, ContentId snapshot)
    {
        ValidateTagName(name);
        return JsonSerializer.SerializeToUtf8Bytes(new TagRecord { Snapshot = snapshot.ToString(), Time = DateTimeOffset.UtcNow }, CairnJsonContext.Default.TagRecord);
    }

    private static TagRecord ParseTag(byte[] bytes, string name)
    {
        try
        {
            var tag = JsonSerializer.Deserialize(bytes, CairnJsonContext.Default.TagRecord);
            if (tag is not null && ContentId.TryParse(tag.Snapshot, out _))
            {
                return tag;
            }
        }
        catch (JsonException)
        {
        }

        throw new CorruptDataException($"tag '{name}' is corrupt");
    }
}
