using Cairn.Manifests;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>
/// A snapshot packs files in the order <c>tar</c> and <c>find</c> walk a tree (depth-first, names in byte order), so a
/// walk through a lazy mount reads the packs front to back.
/// </summary>
public sealed class WalkOrderTests
{
    [Fact]
    public async Task Files_are_packed_depth_first_in_name_order()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        // Breadth-first would pack a, c, b/x, d/w, b/y/z, e/f/g/h; the walk order is the one listed here.
        string[] walkOrder = ["a.txt", "b/x.txt", "b/y/z.txt", "c.txt", "d/w.txt", "e/f/g/h.txt", "e/i.txt"];
        for (var i = 0; i < walkOrder.Length; i++)
        {
            var path = Path.Combine(source, walkOrder[i]);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, XorShift.Bytes(10_000, seed: 100 + (ulong)i));
        }

        var result = await workspace.SnapshotAsync(source);
        var manifest = await workspace.Repository.ReadManifestAsync(result.Snapshot);

        var packed = walkOrder.OrderBy(p => FirstChunkPosition(manifest, Resolve(manifest, p))).ToArray();
        Assert.Equal(walkOrder, packed);
    }

    [Fact]
    public async Task New_chunks_of_a_varied_tree_follow_the_walk()
    {
        // Small frames (many of them), one pack: positions within it are the write order.
        await using var workspace = await Workspace.CreateAsync(new() { FrameSize = 256 << 10, PackSize = 64 << 20 });
        var source = workspace.Generate(seed: 17, TreeShape.Varied);
        var result = await workspace.SnapshotAsync(source);
        var manifest = await workspace.Repository.ReadManifestAsync(result.Snapshot);
        Assert.Single(manifest.Packs);
        Assert.True(manifest.Frames.Length > 10);

        var seen = new HashSet<uint>();
        var met = new HashSet<int>();
        var previous = (-1L, -1L);
        var files = 0;
        foreach (var name in DepthFirst(manifest, 0))
        {
            // A hard-linked file is read, and packed, where the walk first meets one of its names: that may be a
            // hardlink entry (in a subdirectory) whose regular entry comes later in the walk.
            var entry = manifest.Canonical(name);
            if (manifest.Entries[entry].Kind != EntryKind.Regular || !met.Add(entry))
            {
                continue;
            }

            files++;
            foreach (var reference in manifest.ChunkRefsOf(entry))
            {
                if (!seen.Add(reference.Chunk))
                {
                    continue; // stored where its first occurrence put it
                }

                var position = Position(manifest, reference.Chunk);
                Assert.True(position.CompareTo(previous) > 0, $"chunk of '{Display(manifest, name)}' packed before an earlier file's");
                previous = position;
            }
        }

        Assert.True(files > 20);
    }

    /// <summary>Entries in the order tar visits them: each directory's children by name, each subdirectory where its name falls.</summary>
    private static IEnumerable<int> DepthFirst(Manifest manifest, int directory)
    {
        ref readonly var d = ref manifest.Entries[directory];
        var (first, count) = ((int)d.First, (int)d.Count);
        for (var child = first; child < first + count; child++)
        {
            yield return child;
            if (manifest.Entries[child].Kind == EntryKind.Directory)
            {
                foreach (var descendant in DepthFirst(manifest, child))
                {
                    yield return descendant;
                }
            }
        }
    }

    private static int Resolve(Manifest manifest, string path)
    {
        var entry = 0;
        foreach (var name in path.Split('/'))
        {
            entry = manifest.Lookup(entry, System.Text.Encoding.UTF8.GetBytes(name));
            Assert.True(entry >= 0, $"'{path}' is not in the manifest");
        }

        return entry;
    }

    private static (long, long) FirstChunkPosition(Manifest manifest, int entry) => Position(manifest, manifest.ChunkRefsOf(entry)[0].Chunk);

    /// <summary>Where a chunk is stored: its frame's offset in the pack, then its offset in the frame.</summary>
    private static (long, long) Position(Manifest manifest, uint chunk)
    {
        var location = manifest.Locations[chunk];
        return (manifest.Frames[location.Frame].Offset, location.OffsetInFrame);
    }

    private static string Display(Manifest manifest, int entry) => Manifest.Display(manifest.NameOf(entry).ToArray());
}
