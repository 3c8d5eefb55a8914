using System.Buffers.Binary;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;
using Cairn.Tests.Support;

namespace Cairn.Tests.Format;

/// <summary>
/// The pack layout is pinned: a pack built by the real <see cref="PackWriter"/> from known chunks has the documented
/// header, frames, index and trailer, and decodes back to the same chunks through the reading side.
/// </summary>
public sealed class PackFormatTests
{
    [Fact]
    public async Task A_pack_of_known_chunks_has_the_pinned_layout_and_decodes_back()
    {
        // Frames close once they reach 8 KiB: [c0 c1 c2] (8500 bytes), [c3] (8192), [c4 c5] (6100, at the flush).
        await using var workspace = await Workspace.CreateAsync(new RepositoryConfig { ChunkMin = 64, ChunkAverage = 1024, ChunkMax = 8192, FrameSize = 8192, PackSize = 1 << 20 });
        byte[][] chunks = [XorShift.Bytes(3000, 1), XorShift.Bytes(4000, 2), XorShift.Bytes(1500, 3), XorShift.Bytes(8192, 4), XorShift.Bytes(100, 5), new byte[6000]];
        ContentId packId;
        await using (var writer = new PackWriter(workspace.Repository, new ChunkIndex(), CancellationToken.None))
        {
            foreach (var chunk in chunks)
            {
                await writer.AddChunkAsync(ContentId.Hash(chunk), chunk);
            }

            await writer.FlushAsync();
            packId = Assert.Single(writer.WrittenPacks).Pack;
        }

        var pack = await workspace.Repository.Store.ReadAllAsync(ObjectKeys.Pack(packId));

        // Named by its content; header: magic, version 1, reserved 0.
        Assert.Equal(packId, ContentId.Hash(pack));
        Assert.Equal([.. "CAIRNPAK"u8, 1, 0, 0, 0, 0, 0, 0, 0], pack[..16]);

        // Trailer: index offset, index length, CRC-32C of the compressed index, version 1, reserved 0, magic.
        var trailer = pack.AsSpan(pack.Length - 32);
        var indexOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(trailer);
        var indexLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(trailer[8..]);
        Assert.Equal(pack.Length - 32, indexOffset + indexLength);
        Assert.Equal(Crc32C.Compute(pack.AsSpan((int)indexOffset, indexLength)), BinaryPrimitives.ReadUInt32LittleEndian(trailer[12..]));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(trailer[16..]));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(trailer[20..]));
        Assert.Equal("CAIRNEND"u8.ToArray(), trailer[24..].ToArray());

        // The index, through the reader.
        var (offset, length, checksum) = PackFormat.ReadTrailer(trailer, pack.Length, "pack");
        var index = PackFormat.DecodeIndex(pack.AsSpan((int)offset, length), checksum, pack.Length, "pack");
        Assert.Equal(
            [(0, 0, 3000), (0, 3000, 4000), (0, 7000, 1500), (1, 0, 8192), (2, 0, 100), (2, 100, 6000)],
            index.Chunks.Select(c => (c.Frame, c.OffsetInFrame, c.Length)));
        Assert.Equal(chunks.Select(c => ContentId.Hash(c)), index.Chunks.Select(c => c.Id));

        // Frames back to back from the header on; the incompressible ones are pinned to the byte (zstd raw blocks).
        var frames = index.Frames;
        Assert.Equal(3, frames.Count);
        Assert.Equal(new FrameInfo(16, 8510, 8500, 1603403379), frames[0]);
        Assert.Equal(new FrameInfo(16 + 8510, 8202, 8192, 1077995352), frames[1]);
        Assert.Equal(frames[1].Offset + frames[1].CompressedLength, frames[2].Offset);
        Assert.Equal(6100, frames[2].UncompressedLength);
        Assert.True(frames[2].CompressedLength < 1000, "6000 zeros compress");
        Assert.Equal(indexOffset, frames[2].Offset + frames[2].CompressedLength);

        // Every chunk decodes, verifies and is the chunk that went in.
        var output = new byte[8500];
        for (var c = 0; c < chunks.Length; c++)
        {
            var f = frames[index.Chunks[c].Frame];
            var record = new FrameRecord { Offset = f.Offset, CompressedLength = (uint)f.CompressedLength, UncompressedLength = (uint)f.UncompressedLength, Checksum = f.Checksum };
            FrameCodec.Decode(pack.AsSpan((int)f.Offset, f.CompressedLength), record, output, "pack");
            var data = output.AsSpan(index.Chunks[c].OffsetInFrame, index.Chunks[c].Length);
            FrameCodec.VerifyChunk(data, index.Chunks[c].Id, "pack");
            Assert.True(data.SequenceEqual(chunks[c]), $"chunk {c} differs");
        }
    }
}
