using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;
using Cairn.Storage;

namespace Cairn.Mount;

/// <summary>
/// Finds the trace to prefetch by (the tree's own, else the nearest ancestor's, following parent links) and writes a
/// recorded one (create-only: the first trace of a tree stays).
/// </summary>
internal static class TraceStore
{
    /// <summary>The chunks of the trace of the tree, else of its nearest ancestor, and whose trace it is; null if none was found.</summary>
    public static async Task<(ContentId[] Chunks, SnapshotRecord Source)?> FindAsync(Repository.Repository repository, MountContext context, CancellationToken cancellationToken)
    {
        var record = context.Snapshot;
        for (var depth = 0; ; depth++)
        {
            var key = ObjectKeys.Trace(record.TreeHash);
            try
            {
                return (TraceFile.Decode(await repository.Store.ReadAllAsync(key, cancellationToken).ConfigureAwait(false), key), record);
            }
            catch (ObjectNotFoundException)
            {
            }
            catch (CorruptDataException e)
            {
                context.Log($"ignoring {key}: {e.Message}");
            }

            if (record.ParentId is not { } parent || depth >= context.Options.TraceAncestors)
            {
                return null;
            }

            try
            {
                record = await repository.ReadSnapshotAsync(parent, cancellationToken).ConfigureAwait(false);
            }
            catch (UsageException)
            {
                return null; // the parent was deleted
            }
        }
    }

    public static async Task WriteAsync(IObjectStore store, MountContext context, TraceRecorder recorder, CancellationToken cancellationToken)
    {
        var chunks = recorder.ChunkIds();
        if (chunks.Count == 0)
        {
            return;
        }

        var key = ObjectKeys.Trace(context.Snapshot.TreeHash);
        try
        {
            await store.PutAsync(key, TraceFile.Encode(chunks, compressionLevel: 3), WriteCondition.IfAbsent, cancellationToken).ConfigureAwait(false);
            context.Log($"recorded the first reads ({chunks.Count} chunks) as {key}");
        }
        catch (PreconditionFailedException)
        {
            // Another mount of the same tree recorded first.
        }
    }

    /// <summary>The frames of this snapshot that hold the traced chunks (chunks are content-addressed, so a descendant's trace maps by id), first use first.</summary>
    public static int[] MapToFrames(Manifest manifest, ContentId[] chunks)
    {
        var byId = new Dictionary<ContentId, int>(manifest.Chunks.Length);
        for (var i = 0; i < manifest.Chunks.Length; i++)
        {
            byId.TryAdd(manifest.Chunks[i].Id, i);
        }

        var frames = new List<int>();
        var seen = new HashSet<int>();
        foreach (var id in chunks)
        {
            if (byId.TryGetValue(id, out var chunk) && seen.Add((int)manifest.Locations[chunk].Frame))
            {
                frames.Add((int)manifest.Locations[chunk].Frame);
            }
        }

        return [.. frames];
    }
}
