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

        // Named by its content; header: magic, version 2 (no frame is segmented), reserved 0.
        Assert.Equal(packId, ContentId.Hash(pack));
        Assert.Equal([.. "CAIRNPAK"u8, 2, 0, 0, 0, 0, 0, 0, 0], pack[..16]);

        // Trailer: index offset, index length, CRC-32C of the compressed index, version 2, reserved 0, magic.
        var trailer = pack.AsSpan(pack.Length - 32);
        var indexOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(trailer);
        var indexLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(trailer[8..]);
        Assert.Equal(pack.Length - 32, indexOffset + indexLength);
        Assert.Equal(Crc32C.Compute(pack.AsSpan((int)indexOffset, indexLength)), BinaryPrimitives.ReadUInt32LittleEndian(trailer[12..]));
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(trailer[16..]));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(trailer[20..]));
        Assert.Equal("CAIRNEND"u8.ToArray(), trailer[24..].ToArray());

        // The raw index, byte for byte: counts; per frame offset, lengths, CRC-32C and its chunk count; the chunks'
        // 24-byte keys; their lengths.
        var raw = ZstdFrames.Decompress(pack.AsSpan((int)indexOffset, indexLength), 1 << 20, "index");
        Assert.Equal(8 + (3 * 24) + (6 * 24) + (6 * 4), raw.Length);
        Assert.Equal([3u, 6u], [BinaryPrimitives.ReadUInt32LittleEndian(raw), BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(4))]);
        Assert.Equal([3u, 1u, 2u], Enumerable.Range(0, 3).Select(f => BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(8 + (f * 24) + 20))));
        for (var c = 0; c < chunks.Length; c++)
        {
            Assert.Equal(ContentId.Hash(chunks[c]).ToArray()[..24], raw.AsSpan(80 + (c * 24), 24).ToArray());
            Assert.Equal((uint)chunks[c].Length, BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(80 + 144 + (c * 4))));
        }

        // The index, through the reader: frames and offsets follow from the counts and lengths.
        var (offset, length, checksum, version) = PackFormat.ReadTrailer(trailer, pack.Length, "pack");
        Assert.Equal(2u, version);
        var index = PackFormat.DecodeIndex(pack.AsSpan((int)offset, length), checksum, version, pack.Length, "pack");
        Assert.Equal(
            [(0, 0, 3000), (0, 3000, 4000), (0, 7000, 1500), (1, 0, 8192), (2, 0, 100), (2, 100, 6000)],
            index.Chunks.Select(c => (c.Frame, c.OffsetInFrame, c.Length)));
        Assert.Equal(chunks.Select(c => ContentId.Hash(c).IndexKey), index.Chunks.Select(c => c.Id));

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
            FrameCodec.VerifyChunk(data, ContentId.Hash(chunks[c]), "pack");
            Assert.True(data.SequenceEqual(chunks[c]), $"chunk {c} differs");
        }
    }

    [Theory]
    [InlineData(new[] { 2, 1 }, new[] { 100, 50, 80 }, "do not fill")] // frame 0 holds 150 of its 150, frame 1 80 of 90
    [InlineData(new[] { 2, 2 }, new[] { 100, 50, 90 }, "more chunks")] // four counted, three present
    [InlineData(new[] { 1, 1 }, new[] { 150, 90, 10 }, "in no frame")] // a chunk left over
    [InlineData(new[] { 3, 0 }, new[] { 100, 50, 90 }, "do not fill")] // frame 0 overfilled
    public void A_version_2_index_whose_chunks_do_not_fill_their_frames_is_refused(int[] counts, int[] lengths, string error)
    {
        var raw = new BinaryBuilder(256);
        raw.WriteUInt32(2);
        raw.WriteUInt32((uint)lengths.Length);
        int[] sizes = [150, 90];
        for (var f = 0; f < 2; f++)
        {
            raw.WriteUInt64((ulong)(16 + (f * 100)));
            raw.WriteUInt32(100);
            raw.WriteUInt32((uint)sizes[f]);
            raw.WriteUInt32(0);
            raw.WriteUInt32((uint)counts[f]);
        }

        for (var c = 0; c < lengths.Length; c++)
        {
            raw.Write(new byte[ContentId.IndexKeySize]);
        }

        foreach (var length in lengths)
        {
            raw.WriteUInt32((uint)length);
        }

        var e = Assert.Throws<CorruptDataException>(() =>
        {
            var cursor = new BinaryCursor(raw.WrittenSpan, "index");
            PackIndex.Read(ref cursor, 1000, 2);
        });
        Assert.Contains(error, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_pack_of_a_version_this_reader_does_not_know_is_refused_by_name()
    {
        var trailer = new byte[32];
        BinaryPrimitives.WriteUInt64LittleEndian(trailer, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(8), 10);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(16), 4);
        "CAIRNEND"u8.CopyTo(trailer.AsSpan(24));

        var e = Assert.Throws<CorruptDataException>(() => PackFormat.ReadTrailer(trailer, 16 + 10 + 32, "packs/ab/abcd"));
        Assert.Contains("packs/ab/abcd is pack format version 4; this Cairn reads versions 1 to 3", e.Message, StringComparison.Ordinal);
    }
}
