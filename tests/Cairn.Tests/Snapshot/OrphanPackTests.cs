using Cairn.Format;
using Cairn.Repository;
using Cairn.Tests.Support;

namespace Cairn.Tests.Snapshot;

/// <summary>Packs no index object names (an interrupted run's) are reused, then indexed by the next run.</summary>
public sealed class OrphanPackTests
{
    [Fact]
    public async Task The_next_run_reuses_orphan_packs_and_lists_them_in_its_index_object()
    {
        await using var workspace = await Workspace.CreateAsync();
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "a.bin"), XorShift.Bytes(600_000, seed: 11));
        await workspace.SnapshotAsync(source);

        // Make the packs orphans, as a run killed after its uploads but before its index object leaves them.
        foreach (var index in Directory.GetFiles(Path.Combine(workspace.RepoPath, "index")))
        {
            File.Delete(index);
        }

        var orphaned = await workspace.Repository.LoadIndexAsync();
        Assert.NotEmpty(orphaned.RecoveredPacks);

        File.WriteAllBytes(Path.Combine(source, "b.bin"), XorShift.Bytes(1000, seed: 12));
        var second = await workspace.SnapshotAsync(source);
        Assert.Equal(1000, second.Snapshot.Stats.NewBytes);

        var after = await workspace.Repository.LoadIndexAsync();
        Assert.Empty(after.RecoveredPacks);
        Assert.Equal(orphaned.ChunkCount + 1, after.ChunkCount);
    }

    [Theory]
    [InlineData(4096, true)] // two chunks filling the frame back to back: what every Cairn wrote
    [InlineData(2048, false)] // the second chunk leaves the frame's last 2 KiB to no chunk
    public async Task A_version_1_orphan_pack_is_reused_only_if_its_chunks_fill_their_frames(int secondLength, bool reused)
    {
        await using var workspace = await Workspace.CreateAsync();
        var data = XorShift.Bytes(8192, seed: 21);
        var first = ContentId.Hash(data.AsSpan(0, 4096));
        var second = ContentId.Hash(data.AsSpan(4096, secondLength));
        var pack = VersionOnePack(data, [(first, 0, 4096), (second, 4096, secondLength)]);
        var packId = ContentId.Hash(pack);
        var path = Path.Combine(workspace.RepoPath, ObjectKeys.Pack(packId));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, pack);

        var index = await workspace.Repository.LoadIndexAsync();
        Assert.Equal(reused ? 1 : 0, index.RecoveredPacks.Count);
        Assert.Equal(reused, index.TryGet(first, out _));

        // The next run lists a reused pack in its index object, in version 2, which reads back.
        var source = workspace.Dir.CreateSub("src");
        File.WriteAllBytes(Path.Combine(source, "a.bin"), data.AsSpan(0, 4096).ToArray());
        var run = await workspace.SnapshotAsync(source);
        Assert.Equal(reused ? 0 : 4096, run.Snapshot.Stats.NewBytes);
        var after = await (await workspace.ReopenAsync()).LoadIndexAsync();
        Assert.Empty(after.RecoveredPacks);
        Assert.True(after.TryGet(first, out _));
        Assert.Equal(reused, after.ContainsPack(packId));
    }

    /// <summary>A pack as format version 1 laid it out: one frame of <paramref name="data"/>, and the given chunks in its index.</summary>
    private static byte[] VersionOnePack(byte[] data, (ContentId Id, int Offset, int Length)[] chunks)
    {
        var frame = ZstdFrames.Compress(data, 3);
        var index = new BinaryBuilder(256);
        index.WriteUInt32(1);
        index.WriteUInt32((uint)chunks.Length);
        index.WriteUInt64(16);
        index.WriteUInt32((uint)frame.Length);
        index.WriteUInt32((uint)data.Length);
        index.WriteUInt32(Crc32C.Compute(frame));
        index.WriteUInt32(0);
        foreach (var (id, offset, _) in chunks)
        {
            index.WriteContentId(id);
            index.WriteUInt32(0);
            index.WriteUInt32((uint)offset);
        }

        foreach (var (_, _, length) in chunks)
        {
            index.WriteUInt32((uint)length);
        }

        var compressedIndex = ZstdFrames.Compress(index.WrittenSpan, 3);
        var pack = new BinaryBuilder(1024);
        pack.Write("CAIRNPAK"u8);
        pack.WriteUInt32(1);
        pack.WriteUInt32(0);
        pack.Write(frame);
        pack.Write(compressedIndex);
        pack.WriteUInt64((ulong)(16 + frame.Length));
        pack.WriteUInt32((uint)compressedIndex.Length);
        pack.WriteUInt32(Crc32C.Compute(compressedIndex));
        pack.WriteUInt32(1);
        pack.WriteUInt32(0);
        pack.Write("CAIRNEND"u8);
        return pack.ToArray();
    }
}
