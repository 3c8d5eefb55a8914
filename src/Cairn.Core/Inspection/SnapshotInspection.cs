using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;

namespace Cairn.Inspection;

/// <summary>
/// What a snapshot holds, as <c>cairn inspect</c> shows it: a block map per image (an image snapshot) or one for all
/// files together (a tree), against the parent; and the manifest's own size and tables.
/// </summary>
/// <param name="Snapshot">The snapshot.</param>
/// <param name="Parent">Its parent, if it has one and the record is there.</param>
/// <param name="Files">Per image, or one line for all of a tree's files.</param>
/// <param name="ManifestBytes">Stored size of the manifest object (it lists every block: no chain to walk on restore).</param>
/// <param name="Chunks">Distinct chunks the snapshot uses.</param>
/// <param name="Frames">Frames they live in.</param>
/// <param name="Packs">Packs they live in.</param>
public sealed record SnapshotInspection(SnapshotRecord Snapshot, SnapshotRecord? Parent, IReadOnlyList<BlockMap> Files, long ManifestBytes, int Chunks, int Frames, int Packs)
{
    /// <summary>
    /// The snapshot holds the same tree as its parent: both read one manifest, so every block counts as inherited and
    /// none as moved, even where this snapshot stored them again (<c>--relayout</c>: its record's statistics say how much).
    /// </summary>
    public bool SameTreeAsParent => Parent is not null && Parent.Tree == Snapshot.Tree;

    public static async Task<SnapshotInspection> InspectAsync(Repository.Repository repository, SnapshotRecord snapshot, CancellationToken cancellationToken = default)
    {
        var manifest = await repository.ReadManifestAsync(snapshot, cancellationToken).ConfigureAwait(false);
        var parent = snapshot.ParentId is { } id ? await repository.TryReadSnapshotAsync(id, cancellationToken).ConfigureAwait(false) : null;
        var parentChunks = new HashSet<ContentId>();
        var parentFrames = new HashSet<(ContentId Pack, long Offset)>();
        if (parent is not null)
        {
            var p = await repository.ReadManifestAsync(parent, cancellationToken).ConfigureAwait(false);
            foreach (var chunk in p.Chunks)
            {
                parentChunks.Add(chunk.Id);
            }

            foreach (var frame in p.Frames)
            {
                parentFrames.Add((p.Packs[frame.Pack], frame.Offset));
            }
        }

        List<BlockMap> files;
        if (snapshot.Kind == SnapshotRecord.ImageKind)
        {
            // An image's frames may be segmented: a restore decompresses only the segments it needs of those the
            // snapshot does not use wholly (the manifest says which, or their first bytes do). A frame or segment two
            // images share is decoded once by a restore of the snapshot: each image counts the bytes it uses there, and
            // its share of those none uses, so that no figure counts another image's blocks.
            var segmentSizes = await repository.ReadSegmentSizesAsync(manifest, manifest.UsedBytesByFrame(), cancellationToken).ConfigureAwait(false);
            var images = manifest.RootFiles().ToList();
            var shared = SharedUse.Of(manifest, images, segmentSizes);
            files = [.. images
                .Select(i => BlockMap.Of(manifest, [i], parentChunks, parentFrames, manifest.DisplayPath(i), repository.Config.ImageBlockSize, segmentSizes, shared))];
        }
        else
        {
            var regular = Enumerable.Range(0, manifest.Count).Where(i => manifest.Entries[i].Kind == EntryKind.Regular);
            files = [BlockMap.Of(manifest, regular, parentChunks, parentFrames, "(all files)", blockSize: null)];
        }

        var manifestBytes = await repository.Store.TryGetSizeAsync(ObjectKeys.Manifest(manifest.TreeHash), cancellationToken).ConfigureAwait(false) ?? 0;
        return new SnapshotInspection(snapshot, parent, files, manifestBytes, manifest.Chunks.Length, manifest.Frames.Length, manifest.Packs.Length);
    }
}
