namespace Cairn.Storage.S3;

/// <summary>
/// How an object is cut into multipart-upload parts: every part has the same size but the last, which may
/// be smaller (Cloudflare R2 rejects uploads with unequal parts; S3 allows at most 10,000 parts).
/// </summary>
internal readonly record struct PartPlan(long Size, int PartSize, int Count)
{
    public const int MaxParts = 10_000;
    public const int MinPartSize = 5 * 1024 * 1024;
    private const int Alignment = 1024 * 1024;

    /// <summary>Plans parts of <paramref name="preferredPartSize"/>, larger if that would need too many parts.</summary>
    public static PartPlan For(long size, int preferredPartSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        long partSize = Math.Max(preferredPartSize, MinPartSize);
        if ((size + partSize - 1) / partSize > MaxParts)
        {
            // The smallest whole-MiB part size that fits in 10,000 parts.
            partSize = ((size + MaxParts - 1) / MaxParts + Alignment - 1) / Alignment * Alignment;
        }

        partSize = Math.Min(partSize, size);
        var count = (size + partSize - 1) / partSize;
        return new PartPlan(size, checked((int)partSize), checked((int)count));
    }

    /// <summary>Offset and length of part <paramref name="index"/> (0-based; part number = index + 1).</summary>
    public (long Offset, int Length) Part(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var offset = (long)index * PartSize;
        return (offset, (int)Math.Min(PartSize, Size - offset));
    }
}
