using Cairn.Format;

namespace Cairn.Manifests;

public enum ChangeKind
{
    Added,
    Removed,
    Modified,
}

/// <summary>
/// One difference between two trees: a path and what happened to it. For a regular file modified into a regular file,
/// or a hard link into a hard link (of the files they name), <paramref name="ChangedBytes"/> (0: only metadata, xattrs
/// included, or holes changed): with fixed, aligned blocks (images), the bytes at offsets where the two versions
/// do not hold the same block (replaced, written into a hole, or become a hole or zeros), exactly the blocks that
/// changed; with content-defined chunks (trees), whose offsets shift after an insertion, the bytes of the chunks either
/// version holds and the other does not: the chunks around each change, on both sides. Null otherwise.
/// </summary>
public readonly record struct TreeChange(ChangeKind Kind, byte[] Path, long? ChangedBytes = null);

/// <summary>
/// Compares two manifests by walking both trees at once (children are sorted, so each directory is a merge).
/// An entry is modified when its kind, mode, owner, mtime, size or xattrs (ACLs and file capabilities among them)
/// differ, or its content: a regular file's chunk ids, a symlink's target, a hard link's file (the path it names and
/// that file's content and metadata). An added or removed directory is reported once, not with everything below it.
/// </summary>
public static class ManifestDiff
{
    /// <summary>The changes from <paramref name="a"/> to <paramref name="b"/>; <paramref name="alignedBlocks"/> when both are image snapshots (see <see cref="TreeChange.ChangedBytes"/>).</summary>
    public static List<TreeChange> Compare(Manifest a, Manifest b, bool alignedBlocks = false)
    {
        var changes = new List<TreeChange>();
        CompareDirectories(a, 0, b, 0, changes, alignedBlocks);
        return changes;
    }

    private static void CompareDirectories(Manifest a, int da, Manifest b, int db, List<TreeChange> changes, bool aligned)
    {
        var ea = a.Entries[da];
        var eb = b.Entries[db];
        int i = (int)ea.First, iEnd = (int)(ea.First + ea.Count);
        int j = (int)eb.First, jEnd = (int)(eb.First + eb.Count);
        while (i < iEnd || j < jEnd)
        {
            var c = i >= iEnd ? 1 : j >= jEnd ? -1 : a.NameOf(i).SequenceCompareTo(b.NameOf(j));
            if (c < 0)
            {
                changes.Add(new TreeChange(ChangeKind.Removed, a.PathOf(i++)));
            }
            else if (c > 0)
            {
                changes.Add(new TreeChange(ChangeKind.Added, b.PathOf(j++)));
            }
            else
            {
                var ka = a.Entries[i].Kind;
                var kb = b.Entries[j].Kind;
                if (ka == EntryKind.Directory && kb == EntryKind.Directory)
                {
                    if (!SameMetadata(a, i, b, j))
                    {
                        changes.Add(new TreeChange(ChangeKind.Modified, b.PathOf(j)));
                    }

                    CompareDirectories(a, i, b, j, changes, aligned);
                }
                else if (!SameEntry(a, i, b, j))
                {
                    // Two hard links: the bytes that changed in the files they name.
                    var (fa, fb) = ka == kb ? (a.Canonical(i), b.Canonical(j)) : (i, j);
                    var changed = a.Entries[fa].Kind != EntryKind.Regular || b.Entries[fb].Kind != EntryKind.Regular ? (long?)null
                        : aligned ? ChangedBlocks(a, fa, b, fb) : ChangedChunks(a, fa, b, fb);
                    changes.Add(new TreeChange(ChangeKind.Modified, b.PathOf(j), changed));
                }

                i++;
                j++;
            }
        }
    }

    /// <summary>See <see cref="TreeChange.ChangedBytes"/>, for chunks found again wherever they moved.</summary>
    private static long ChangedChunks(Manifest a, int i, Manifest b, int j)
    {
        var inA = new HashSet<ContentId>();
        foreach (var r in a.ChunkRefsOf(i))
        {
            inA.Add(a.Chunks[r.Chunk].Id);
        }

        var inB = new HashSet<ContentId>();
        long changed = 0;
        foreach (var r in b.ChunkRefsOf(j))
        {
            var chunk = b.Chunks[r.Chunk];
            inB.Add(chunk.Id);
            changed += inA.Contains(chunk.Id) ? 0 : chunk.Length;
        }

        foreach (var r in a.ChunkRefsOf(i))
        {
            var chunk = a.Chunks[r.Chunk];
            changed += inB.Contains(chunk.Id) ? 0 : chunk.Length;
        }

        return changed;
    }

    /// <summary>See <see cref="TreeChange.ChangedBytes"/>, for aligned blocks: both files' references are in offset order, so one merge.</summary>
    private static long ChangedBlocks(Manifest a, int i, Manifest b, int j)
    {
        var ra = a.ChunkRefsOf(i);
        var rb = b.ChunkRefsOf(j);
        long changed = 0;
        int x = 0, y = 0;
        while (x < ra.Length || y < rb.Length)
        {
            var offsetA = x < ra.Length ? ra[x].Offset : long.MaxValue;
            var offsetB = y < rb.Length ? rb[y].Offset : long.MaxValue;
            if (offsetA == offsetB)
            {
                var chunkA = a.Chunks[ra[x++].Chunk];
                var chunkB = b.Chunks[rb[y++].Chunk];
                if (chunkA.Id != chunkB.Id)
                {
                    changed += Math.Max(chunkA.Length, chunkB.Length);
                }
            }
            else if (offsetA < offsetB)
            {
                changed += a.Chunks[ra[x++].Chunk].Length; // gone from the newer version (a hole, zeros, or cut elsewhere)
            }
            else
            {
                changed += b.Chunks[rb[y++].Chunk].Length; // new in the newer version
            }
        }

        return changed;
    }

    private static bool SameMetadata(Manifest a, int i, Manifest b, int j)
    {
        ref readonly var x = ref a.Entries[i];
        ref readonly var y = ref b.Entries[j];
        return x.Kind == y.Kind && x.Mode == y.Mode && x.Uid == y.Uid && x.Gid == y.Gid && x.MTimeNs == y.MTimeNs && x.Size == y.Size
            && SameXattrs(a, i, b, j);
    }

    /// <summary>An entry's xattrs are sorted by name (docs/format.md), so equal sets are equal sequences.</summary>
    private static bool SameXattrs(Manifest a, int i, Manifest b, int j)
    {
        var xa = a.XattrsOf(i);
        var xb = b.XattrsOf(j);
        if (xa.Length != xb.Length)
        {
            return false;
        }

        for (var k = 0; k < xa.Length; k++)
        {
            if (!a.StringAt(xa[k].NameOffset, xa[k].NameLength).SequenceEqual(b.StringAt(xb[k].NameOffset, xb[k].NameLength))
                || !a.StringAt(xa[k].ValueOffset, xa[k].ValueLength).SequenceEqual(b.StringAt(xb[k].ValueOffset, xb[k].ValueLength)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool SameEntry(Manifest a, int i, Manifest b, int j)
    {
        var x = a.Entries[i];
        var y = b.Entries[j];
        if (x.Kind == EntryKind.Hardlink && y.Kind == EntryKind.Hardlink)
        {
            // A hard link's data and metadata are those of the file it names (docs/format.md), whose path may be the
            // same in both trees while its content is not. Its own xattrs are not compared: a snapshot from a mount's
            // overlay records none on a link it takes from the parent, another snapshot records the file's.
            return a.PathOf((int)x.First).AsSpan().SequenceEqual(b.PathOf((int)y.First)) && SameEntry(a, (int)x.First, b, (int)y.First);
        }

        if (!SameMetadata(a, i, b, j))
        {
            return false;
        }

        switch (x.Kind)
        {
            case EntryKind.Regular:
                var ra = a.ChunkRefsOf(i);
                var rb = b.ChunkRefsOf(j);
                if (ra.Length != rb.Length)
                {
                    return false;
                }

                for (var k = 0; k < ra.Length; k++)
                {
                    if (ra[k].Offset != rb[k].Offset || a.Chunks[ra[k].Chunk].Id != b.Chunks[rb[k].Chunk].Id)
                    {
                        return false;
                    }
                }

                return true;
            case EntryKind.Symlink:
                return a.SymlinkTarget(i).SequenceEqual(b.SymlinkTarget(j));
            default:
                return x.First == y.First && x.Count == y.Count;
        }
    }
}
