namespace Cairn.Format;

/// <summary>
/// The <c>traces/&lt;tree-hash&gt;</c> object: the chunks a workload read first from a mount of that tree, in the order
/// it first read them, so the next mount (of the tree or of a descendant, mapped by chunk id) fetches them first.
/// Layout: 16-byte header ("CAIRNTRC", version, 0), then one zstd frame holding <c>u32 count</c> and count chunk ids.
/// Advisory: it only orders prefetching, so a damaged trace costs speed, never correctness.
/// </summary>
public static class TraceFile
{
    public const uint Version = 1;

    /// <summary>Most chunk ids a trace holds (2 MiB of ids; far more than a workload's first reads).</summary>
    public const int MaxChunks = 1 << 16;

    private static ReadOnlySpan<byte> Magic => "CAIRNTRC"u8;

    public static byte[] Encode(IReadOnlyList<ContentId> chunks, int compressionLevel)
    {
        if (chunks.Count > MaxChunks)
        {
            throw new ArgumentException($"a trace holds at most {MaxChunks} chunks", nameof(chunks));
        }

        var body = new BinaryBuilder(4 + (chunks.Count * ContentId.Size));
        body.WriteUInt32((uint)chunks.Count);
        foreach (var chunk in chunks)
        {
            body.WriteContentId(chunk);
        }

        return SealedObject.Seal(Magic, Version, body.WrittenSpan, compressionLevel);
    }

    public static ContentId[] Decode(ReadOnlySpan<byte> data, string what)
    {
        var body = SealedObject.Open(data, Magic, Version, "trace", 4 + (MaxChunks * ContentId.Size), what);
        var cursor = new BinaryCursor(body, what);
        var chunks = new ContentId[cursor.ReadInt32Checked(Math.Min(MaxChunks, cursor.Remaining / ContentId.Size))];
        for (var i = 0; i < chunks.Length; i++)
        {
            chunks[i] = cursor.ReadContentId();
        }

        cursor.ExpectEnd();
        return chunks;
    }
}
