namespace Cairn.Chunking;

/// <summary>
/// Minimum, average (a power of two) and maximum chunk size of the content-defined chunker.
/// Stored in the repository config: every host writing a repository must cut the same way, or dedup is lost.
/// </summary>
public sealed record ChunkerParameters(int MinSize, int AverageSize, int MaxSize)
{
    /// <summary>
    /// The default: 16 KiB / 64 KiB / 256 KiB. See docs/format.md ("Choosing the chunk sizes") for the measurements on
    /// the <c>ws</c> corpus behind it.
    /// </summary>
    public static ChunkerParameters Default { get; } = new(16 * 1024, 64 * 1024, 256 * 1024);

    public void Validate()
    {
        if (MinSize < 64 || !int.IsPow2(AverageSize) || MinSize >= AverageSize || AverageSize >= MaxSize || MaxSize > 16 * 1024 * 1024)
        {
            throw new CairnException($"invalid chunker parameters {MinSize}/{AverageSize}/{MaxSize}: need 64 <= min < avg < max <= 16 MiB and avg a power of two");
        }
    }
}
