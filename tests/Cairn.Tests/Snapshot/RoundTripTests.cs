using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>Property: for any generated tree, snapshot then restore gives back exactly the same tree.</summary>
public sealed class RoundTripTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public async Task A_generated_tree_restores_exactly(int seed)
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Generate(seed, TreeShape.Varied);

        var result = await workspace.SnapshotAsync(source);
        var target = workspace.Dir.Sub("restored");
        var restored = await workspace.RestoreAsync(result.Snapshot, target);

        Assert.Empty(result.Skipped);
        Assert.Empty(result.Warnings);
        Assert.Empty(restored.Warnings);
        TreeComparer.AssertEqual(source, target);
        Assert.Equal(["repo", "restored", "src"], workspace.TopLevelNames());
    }
}
