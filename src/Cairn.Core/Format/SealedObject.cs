namespace Cairn.Format;

/// <summary>
/// The envelope of the small binary objects (index, trace): a 16-byte header (8-byte magic, <c>u32</c> version,
/// <c>u32</c> 0) and one zstd frame holding the body.
/// </summary>
internal static class SealedObject
{
    public const int HeaderSize = 16;

    public static byte[] Seal(ReadOnlySpan<byte> magic, uint version, ReadOnlySpan<byte> body, int compressionLevel)
    {
        var compressed = ZstdFrames.Compress(body, compressionLevel);
        var output = new BinaryBuilder(HeaderSize + compressed.Length);
        output.Write(magic);
        output.WriteUInt32(version);
        output.WriteUInt32(0);
        output.Write(compressed);
        return output.ToArray();
    }

    /// <summary>Checks magic and version, and returns the decompressed body (at most <paramref name="maxLength"/> bytes).</summary>
    public static byte[] Open(ReadOnlySpan<byte> data, ReadOnlySpan<byte> magic, uint version, string kind, int maxLength, string what)
    {
        if (data.Length < HeaderSize || !data[..8].SequenceEqual(magic))
        {
            throw new CorruptDataException($"{what} is not a Cairn {kind}");
        }

        var header = new BinaryCursor(data[8..HeaderSize], what);
        var actual = header.ReadUInt32();
        if (actual != version)
        {
            throw new CorruptDataException($"{what} is {kind} format version {actual}; this Cairn reads version {version}");
        }

        return ZstdFrames.Decompress(data[HeaderSize..], maxLength, what);
    }
}
