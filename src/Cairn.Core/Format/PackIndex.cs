using Cairn.Native.Zstd;

namespace Cairn.Format;

/// <summary>One compressed frame inside a pack.</summary>
/// <param name="Offset">Byte offset of the frame in the pack.</param>
/// <param name="CompressedLength">Length of the zstd frame in the pack.</param>
/// <param name="UncompressedLength">Length of the chunks it holds, back to back.</param>
/// <param name="Checksum">CRC-32C of the compressed bytes, checked before decompression.</param>
public readonly record struct FrameInfo(long Offset, int CompressedLength, int UncompressedLength, uint Checksum);

/// <summary>One chunk inside a frame. <see cref="Id"/> is the chunk's full id, or its <see cref="ContentId.IndexKey"/> when read from a version 2 pack index.</summary>
public readonly record struct PackChunk(ContentId Id, int Frame, int OffsetInFrame, int Length);

/// <summary>
/// What a pack holds: its frames and, for each chunk, the frame and offset it sits at. Written at the end of
/// every pack and, for many packs at once, in index objects. Encoding in docs/format.md ("Pack index").
/// </summary>
public sealed class PackIndex
{
    private const int FrameRecordSize = 24;
    private const int ChunkRecordSizeV1 = 44; // id, frame, offset, length
    private const int ChunkRecordSizeV2 = ContentId.IndexKeySize + 4; // key, length

    public PackIndex(IReadOnlyList<FrameInfo> frames, IReadOnlyList<PackChunk> chunks)
    {
        Frames = frames;
        Chunks = chunks;
    }

    public IReadOnlyList<FrameInfo> Frames { get; }

    public IReadOnlyList<PackChunk> Chunks { get; }

    /// <summary>A generous size for <see cref="WriteTo"/>'s output.</summary>
    internal int EncodedSizeHint => 16 + (Frames.Count * FrameRecordSize) + (Chunks.Count * ChunkRecordSizeV2);

    /// <summary>
    /// The raw (uncompressed) encoding, version 2. A frame's chunks lie back to back from its start and fill it (that is
    /// how <see cref="Repository.PackWriter"/> builds frames), so a chunk's frame and offset follow from the order and the
    /// lengths: a frame record counts its chunks, a chunk record is its index key and its length.
    /// </summary>
    internal void WriteTo(BinaryBuilder output)
    {
        if (!IsContiguous)
        {
            throw new InvalidOperationException("a pack index whose chunks do not fill their frames back to back cannot be written as version 2");
        }

        output.WriteUInt32((uint)Frames.Count);
        output.WriteUInt32((uint)Chunks.Count);
        var counts = new int[Frames.Count];
        foreach (var c in Chunks)
        {
            counts[c.Frame]++;
        }

        for (var f = 0; f < Frames.Count; f++)
        {
            var frame = Frames[f];
            output.WriteUInt64((ulong)frame.Offset);
            output.WriteUInt32((uint)frame.CompressedLength);
            output.WriteUInt32((uint)frame.UncompressedLength);
            output.WriteUInt32(frame.Checksum);
            output.WriteUInt32((uint)counts[f]);
        }

        Span<byte> id = stackalloc byte[ContentId.Size];
        foreach (var c in Chunks)
        {
            c.Id.WriteTo(id);
            output.Write(id[..ContentId.IndexKeySize]);
        }

        // Lengths apart from the keys: for an image, all the same, which the compressor then all but removes.
        foreach (var c in Chunks)
        {
            output.WriteUInt32((uint)c.Length);
        }
    }

    /// <summary>
    /// Whether the chunks lie as version 2 describes them: in frame order, each frame's back to back from its start,
    /// filling it. Every index Cairn writes does; a version 1 index read from a pack need not (the older reader only
    /// asked that each chunk lie inside its frame), and one that does not cannot be carried into a new index object.
    /// </summary>
    internal bool IsContiguous
    {
        get
        {
            var chunk = 0;
            for (var f = 0; f < Frames.Count; f++)
            {
                long filled = 0;
                for (; chunk < Chunks.Count && Chunks[chunk].Frame == f; chunk++)
                {
                    if (Chunks[chunk].OffsetInFrame != filled)
                    {
                        return false;
                    }

                    filled += Chunks[chunk].Length;
                }

                if (filled != Frames[f].UncompressedLength)
                {
                    return false;
                }
            }

            return chunk == Chunks.Count;
        }
    }

    /// <summary>Reads a raw pack index of the given format version (1 or 2), checking that every chunk lies inside its frame and every frame inside the pack.</summary>
    internal static PackIndex Read(ref BinaryCursor cursor, long packLength, uint version)
    {
        var frameCount = cursor.ReadInt32Checked(cursor.Remaining / FrameRecordSize);
        var chunkCount = cursor.ReadInt32Checked(cursor.Remaining / (version == 1 ? ChunkRecordSizeV1 : ChunkRecordSizeV2));
        var frames = new FrameInfo[frameCount];
        var frameChunks = new int[frameCount];
        for (var i = 0; i < frameCount; i++)
        {
            var offset = (long)cursor.ReadUInt64();
            var compressed = (int)cursor.ReadUInt32();
            var uncompressed = (int)cursor.ReadUInt32();
            var checksum = cursor.ReadUInt32();
            frameChunks[i] = (int)Math.Min(cursor.ReadUInt32(), int.MaxValue); // version 1: reserved, 0
            if (offset < PackFormat.HeaderSize || compressed <= 0 || uncompressed < 0 || offset + compressed > packLength)
            {
                throw new CorruptDataException($"{cursor.What}: frame {i} lies outside its pack");
            }

            frames[i] = new FrameInfo(offset, compressed, uncompressed, checksum);
        }

        return new PackIndex(frames, version == 1 ? ReadChunksV1(ref cursor, frames, chunkCount) : ReadChunksV2(ref cursor, frames, frameChunks, chunkCount));
    }

    private static PackChunk[] ReadChunksV1(ref BinaryCursor cursor, FrameInfo[] frames, int chunkCount)
    {
        var chunks = new PackChunk[chunkCount];
        var ids = new ContentId[chunkCount];
        var frameOf = new int[chunkCount];
        var offsetOf = new int[chunkCount];
        for (var i = 0; i < chunkCount; i++)
        {
            ids[i] = cursor.ReadContentId();
            frameOf[i] = (int)cursor.ReadUInt32();
            offsetOf[i] = (int)cursor.ReadUInt32();
        }

        for (var i = 0; i < chunkCount; i++)
        {
            var length = (int)cursor.ReadUInt32();
            if ((uint)frameOf[i] >= (uint)frames.Length || offsetOf[i] < 0 || length < 0 || (long)offsetOf[i] + length > frames[frameOf[i]].UncompressedLength)
            {
                throw new CorruptDataException($"{cursor.What}: chunk {i} lies outside its frame");
            }

            chunks[i] = new PackChunk(ids[i], frameOf[i], offsetOf[i], length);
        }

        return chunks;
    }

    private static PackChunk[] ReadChunksV2(ref BinaryCursor cursor, FrameInfo[] frames, int[] frameChunks, int chunkCount)
    {
        var keys = new ContentId[chunkCount];
        for (var i = 0; i < chunkCount; i++)
        {
            keys[i] = ContentId.FromIndexKey(cursor.ReadBytes(ContentId.IndexKeySize));
        }

        var chunks = new PackChunk[chunkCount];
        var chunk = 0;
        for (var f = 0; f < frames.Length; f++)
        {
            long offset = 0;
            for (var k = 0; k < frameChunks[f]; k++, chunk++)
            {
                if (chunk == chunkCount)
                {
                    throw new CorruptDataException($"{cursor.What}: the frames count more chunks than the index holds");
                }

                var length = (int)Math.Min(cursor.ReadUInt32(), int.MaxValue);
                chunks[chunk] = new PackChunk(keys[chunk], f, (int)offset, length);
                offset += length;
            }

            if (offset != frames[f].UncompressedLength)
            {
                throw new CorruptDataException($"{cursor.What}: the chunks of frame {f} do not fill it");
            }
        }

        if (chunk != chunkCount)
        {
            throw new CorruptDataException($"{cursor.What}: {chunkCount - chunk} chunks lie in no frame");
        }

        return chunks;
    }
}

/// <summary>
/// The pack object layout: a 16-byte header, zstd frames back to back, the zstd-compressed pack index, and a
/// 32-byte trailer that locates the index. A pack is self-describing, so the repository index can be rebuilt from
/// the packs alone.
/// </summary>
public static class PackFormat
{
    public const int HeaderSize = 16;
    public const int TrailerSize = 32;
    /// <summary>
    /// The newest version, which this Cairn reads and writes; it reads every version from 1 on (docs/format.md, "Pack").
    /// Versions 2 and 3 encode the pack index alike; a version 3 pack may hold segmented frames (<see cref="FrameSegments"/>).
    /// </summary>
    public const uint Version = 3;

    /// <summary>
    /// The version a pack is written in: 3 if it holds a segmented frame, else 2, which a Cairn that predates segments
    /// reads too.
    /// </summary>
    public static uint VersionFor(bool segmentedFrames) => segmentedFrames ? 3u : 2u;

    private static ReadOnlySpan<byte> HeaderMagic => "CAIRNPAK"u8;

    private static ReadOnlySpan<byte> TrailerMagic => "CAIRNEND"u8;

    public static void WriteHeader(Span<byte> destination, uint version)
    {
        HeaderMagic.CopyTo(destination);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], version);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], 0);
    }

    /// <summary>Encodes the compressed index followed by the trailer, given where the index starts in the pack.</summary>
    public static byte[] EncodeIndexAndTrailer(PackIndex index, long indexOffset, ZstdEncoder encoder, uint version)
    {
        var raw = new BinaryBuilder(index.EncodedSizeHint);
        index.WriteTo(raw);
        var compressed = new byte[ZstdEncoder.GetMaxCompressedLength(raw.Length)];
        var length = encoder.Compress(raw.WrittenSpan, compressed);
        var output = new BinaryBuilder(length + TrailerSize);
        output.Write(compressed.AsSpan(0, length));
        output.WriteUInt64((ulong)indexOffset);
        output.WriteUInt32((uint)length);
        output.WriteUInt32(Crc32C.Compute(compressed.AsSpan(0, length)));
        output.WriteUInt32(version);
        output.WriteUInt32(0);
        output.Write(TrailerMagic);
        return output.ToArray();
    }

    /// <summary>Reads the trailer: where the compressed index is, its checksum, and the version it is encoded in.</summary>
    public static (long Offset, int Length, uint Checksum, uint Version) ReadTrailer(ReadOnlySpan<byte> trailer, long packLength, string what)
    {
        var cursor = new BinaryCursor(trailer, what);
        var offset = (long)cursor.ReadUInt64();
        var length = (int)cursor.ReadUInt32();
        var checksum = cursor.ReadUInt32();
        var version = cursor.ReadUInt32();
        cursor.ReadUInt32();
        if (!cursor.ReadBytes(8).SequenceEqual(TrailerMagic))
        {
            throw new CorruptDataException($"{what} has no pack trailer (not a Cairn pack, or truncated)");
        }

        if (version is < 1 or > Version)
        {
            throw new CorruptDataException($"{what} is pack format version {version}; this Cairn reads versions 1 to {Version}");
        }

        if (offset < HeaderSize || length <= 0 || offset + length + TrailerSize != packLength)
        {
            throw new CorruptDataException($"{what}: pack trailer points outside the pack");
        }

        return (offset, length, checksum, version);
    }

    /// <summary>Decodes the compressed index whose bytes the trailer located.</summary>
    public static PackIndex DecodeIndex(ReadOnlySpan<byte> compressedIndex, uint checksum, uint version, long packLength, string what)
    {
        if (Crc32C.Compute(compressedIndex) != checksum)
        {
            throw new CorruptDataException($"{what}: pack index checksum mismatch");
        }

        var raw = ZstdFrames.Decompress(compressedIndex, maxLength: 256 << 20, what);
        var cursor = new BinaryCursor(raw, what + " index");
        var index = PackIndex.Read(ref cursor, packLength, version);
        cursor.ExpectEnd();
        return index;
    }
}
