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
    public static byte[] Open(ReadOnlySpan<byte> data, ReadOnlySpan<byte> magic, uint version, string kind, int maxLength, string what) =>
        Open(data, magic, version, version, kind, maxLength, what, out _);

    /// <summary>Checks magic and that the version is one this reader knows (<paramref name="oldest"/> to <paramref name="newest"/>), and returns the decompressed body.</summary>
    public static byte[] Open(ReadOnlySpan<byte> data, ReadOnlySpan<byte> magic, uint oldest, uint newest, string kind, int maxLength, string what, out uint version)
    {
        if (data.Length < HeaderSize || !data[..8].SequenceEqual(magic))
        {
            throw new CorruptDataException($"{what} is not a Cairn {kind}");
        }

        var header = new BinaryCursor(data[8..HeaderSize], what);
        version = header.ReadUInt32();
        if (version < oldest || version > newest)
        {
            var known = oldest == newest ? $"version {newest}" : $"versions {oldest} to {newest}";
            throw new CorruptDataException($"{what} is {kind} format version {version}; this Cairn reads {known}");
        }

        return ZstdFrames.Decompress(data[HeaderSize..], maxLength, what);
    }
}
