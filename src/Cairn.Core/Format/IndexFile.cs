namespace Cairn.Format;

/// <summary>
/// The <c>index/&lt;id&gt;</c> object: the pack indexes of several packs in one object, so opening a repository reads a
/// few index objects instead of every pack's trailer. Layout: 16-byte header ("CAIRNIDX", version, 0), then one zstd
/// frame holding <c>u32 packCount</c> and, per pack, its id, <c>u32 length</c> and its raw pack index.
/// </summary>
public static class IndexFile
{
    /// <summary>The version this Cairn writes: that of the raw pack indexes inside. It reads versions 1 and 2.</summary>
    public const uint Version = 2;

    private static ReadOnlySpan<byte> Magic => "CAIRNIDX"u8;

    public static byte[] Encode(IReadOnlyList<(ContentId Pack, PackIndex Index)> packs, int compressionLevel)
    {
        var body = new BinaryBuilder(1024);
        body.WriteUInt32((uint)packs.Count);
        foreach (var (pack, index) in packs)
        {
            var one = new BinaryBuilder(index.EncodedSizeHint);
            index.WriteTo(one);
            body.WriteContentId(pack);
            body.WriteUInt32((uint)one.Length);
            body.Write(one.WrittenSpan);
        }

        return SealedObject.Seal(Magic, Version, body.WrittenSpan, compressionLevel);
    }

    public static List<(ContentId Pack, PackIndex Index)> Decode(ReadOnlySpan<byte> data, string what)
    {
        var body = SealedObject.Open(data, Magic, 1, Version, "index", 1 << 30, what, out var version);
        var cursor = new BinaryCursor(body, what);
        var count = cursor.ReadInt32Checked(cursor.Remaining / 40);
        var result = new List<(ContentId, PackIndex)>(count);
        for (var i = 0; i < count; i++)
        {
            var pack = cursor.ReadContentId();
            var length = cursor.ReadInt32Checked(cursor.Remaining);
            var inner = new BinaryCursor(cursor.ReadBytes(length), what);
            var index = PackIndex.Read(ref inner, long.MaxValue, version);
            inner.ExpectEnd();
            result.Add((pack, index));
        }

        cursor.ExpectEnd();
        return result;
    }
}
