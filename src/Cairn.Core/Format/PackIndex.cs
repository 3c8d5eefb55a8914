using Cairn.Native.Zstd;

namespace Cairn.Format;

/// <summary>One compressed frame inside a pack.</summary>
/// <param name="Offset">Byte offset of the frame in the pack.</param>
/// <param name="CompressedLength">Length of the zstd frame in the pack.</param>
/// <param name="UncompressedLength">Length of the chunks it holds, back to back.</param>
/// <param name="Checksum">CRC-32C of the compressed bytes, checked before decompression.</param>
public readonly record struct FrameInfo(long Offset, int CompressedLength, int UncompressedLength, uint Checksum);

/// <summary>One chunk inside a frame.</summary>
public readonly record struct PackChunk(ContentId Id, int Frame, int OffsetInFrame, int Length);

/// <summary>
/// What a pack holds: its frames and, for each chunk, the frame and offset it sits at. Written at the end of
/// every pack and, for many packs at once, in index objects. Encoding in docs/format.md ("Pack index").
/// </summary>
public sealed class PackIndex
{
    private const int FrameRecordSize = 24;
    private const int ChunkRecordSize = 40;

    public PackIndex(IReadOnlyList<FrameInfo> frames, IReadOnlyList<PackChunk> chunks)
    {
        Frames = frames;
        Chunks = chunks;
    }

    public IReadOnlyList<FrameInfo> Frames { get; }

    public IReadOnlyList<PackChunk> Chunks { get; }

    /// <summary>The raw (uncompressed) encoding.</summary>
    internal void WriteTo(BinaryBuilder output)
    {
        output.WriteUInt32((uint)Frames.Count);
        output.WriteUInt32((uint)Chunks.Count);
        foreach (var f in Frames)
        {
            output.WriteUInt64((ulong)f.Offset);
            output.WriteUInt32((uint)f.CompressedLength);
            output.WriteUInt32((uint)f.UncompressedLength);
            output.WriteUInt32(f.Checksum);
            output.WriteUInt32(0);
        }

        foreach (var c in Chunks)
        {
            output.WriteContentId(c.Id);
            output.WriteUInt32((uint)c.Frame);
            output.WriteUInt32((uint)c.OffsetInFrame);
        }

        // Chunk lengths last: they are the only field not implied by the order, and keeping the two arrays apart
        // keeps the records fixed-size. (A chunk's length is also implied by the next offset in its frame, but the
        // last one of a frame is not; storing all keeps the reader simple.)
        foreach (var c in Chunks)
        {
            output.WriteUInt32((uint)c.Length);
        }
    }

    internal static PackIndex Read(ref BinaryCursor cursor, long packLength)
    {
        var frameCount = cursor.ReadInt32Checked(cursor.Remaining / FrameRecordSize);
        var chunkCount = cursor.ReadInt32Checked(cursor.Remaining / ChunkRecordSize);
        var frames = new FrameInfo[frameCount];
        for (var i = 0; i < frameCount; i++)
        {
            var offset = (long)cursor.ReadUInt64();
            var compressed = (int)cursor.ReadUInt32();
            var uncompressed = (int)cursor.ReadUInt32();
            var checksum = cursor.ReadUInt32();
            cursor.ReadUInt32();
            if (offset < PackFormat.HeaderSize || compressed <= 0 || uncompressed < 0 || offset + compressed > packLength)
            {
                throw new CorruptDataException($"{cursor.What}: frame {i} lies outside its pack");
            }

            frames[i] = new FrameInfo(offset, compressed, uncompressed, checksum);
        }

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
            if ((uint)frameOf[i] >= (uint)frameCount || offsetOf[i] < 0 || length < 0 || (long)offsetOf[i] + length > frames[frameOf[i]].UncompressedLength)
            {
                throw new CorruptDataException($"{cursor.What}: chunk {i} lies outside its frame");
            }

            chunks[i] = new PackChunk(ids[i], frameOf[i], offsetOf[i], length);
        }

        return new PackIndex(frames, chunks);
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
    public const uint Version = 1;

    private static ReadOnlySpan<byte> HeaderMagic => "CAIRNPAK"u8;

    private static ReadOnlySpan<byte> TrailerMagic => "CAIRNEND"u8;

    public static void WriteHeader(Span<byte> destination)
    {
        HeaderMagic.CopyTo(destination);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], Version);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], 0);
    }

    /// <summary>Encodes the compressed index followed by the trailer, given where the index starts in the pack.</summary>
    public static byte[] EncodeIndexAndTrailer(PackIndex index, long indexOffset, ZstdEncoder encoder)
    {
        var raw = new BinaryBuilder(64 + (index.Chunks.Count * 44) + (index.Frames.Count * 24));
        index.WriteTo(raw);
        var compressed = new byte[ZstdEncoder.GetMaxCompressedLength(raw.Length)];
        var length = encoder.Compress(raw.WrittenSpan, compressed);
        var output = new BinaryBuilder(length + TrailerSize);
        output.Write(compressed.AsSpan(0, length));
        output.WriteUInt64((ulong)indexOffset);
        output.WriteUInt32((uint)length);
        output.WriteUInt32(Crc32C.Compute(compressed.AsSpan(0, length)));
        output.WriteUInt32(Version);
        output.WriteUInt32(0);
        output.Write(TrailerMagic);
        return output.ToArray();
    }

    /// <summary>Reads the trailer: where the compressed index is and its checksum.</summary>
    public static (long Offset, int Length, uint Checksum) ReadTrailer(ReadOnlySpan<byte> trailer, long packLength, string what)
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

        if (version != Version)
        {
            throw new CorruptDataException($"{what} is pack format version {version}; this Cairn reads version {Version}");
        }

        if (offset < HeaderSize || length <= 0 || offset + length + TrailerSize != packLength)
        {
            throw new CorruptDataException($"{what}: pack trailer points outside the pack");
        }

        return (offset, length, checksum);
    }

    /// <summary>Decodes the compressed index whose bytes the trailer located.</summary>
    public static PackIndex DecodeIndex(ReadOnlySpan<byte> compressedIndex, uint checksum, long packLength, string what)
    {
        if (Crc32C.Compute(compressedIndex) != checksum)
        {
            throw new CorruptDataException($"{what}: pack index checksum mismatch");
        }

        var raw = ZstdFrames.Decompress(compressedIndex, maxLength: 256 << 20, what);
        var cursor = new BinaryCursor(raw, what + " index");
        var index = PackIndex.Read(ref cursor, packLength);
        cursor.ExpectEnd();
        return index;
    }
}
