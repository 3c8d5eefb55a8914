using Cairn.Mount;
using Cairn.Tests.Support;

namespace Cairn.Tests.Mount;

/// <summary>Hydration fetches every frame once, from the far end of the packs toward the front, where a tree walk starts.</summary>
public sealed class HydrationOrderTests
{
    [Fact]
    public async Task Hydration_reads_every_frame_once_last_pack_first()
    {
        await using var workspace = await Workspace.CreateAsync(Workspace.SmallPacks);
        var source = workspace.Generate(seed: 23, TreeShape.Bulk(6 << 20));
        var result = await workspace.SnapshotAsync(source);
        var manifest = await workspace.Repository.ReadManifestAsync(result.Snapshot);
        Assert.True(manifest.Packs.Length > 2);

        var (order, reads) = Hydrator.PlanHydration(manifest, readSize: 1 << 16);

        var fetched = reads.SelectMany(r => order.AsSpan(r.FirstFrame, r.FrameCount).ToArray()).ToArray();
        Assert.Equal(Enumerable.Range(0, manifest.Frames.Length), fetched.Order());

        // The first snapshot's packs are numbered in the order they were written: the last one written comes first.
        var positions = fetched.Select(f => (Pack: (long)manifest.Frames[f].Pack, manifest.Frames[f].Offset)).ToArray();
        Assert.Equal(positions.OrderByDescending(p => p.Pack).ThenByDescending(p => p.Offset), positions);
    }
}
