namespace Cairn.Chunking;

/// <summary>
/// Cuts a file into blocks of one fixed size at offsets that are multiples of it: the chunker of VM images (rootfs,
/// guest memory), whose writes land in place on page- and block-aligned offsets, so an unchanged block keeps its
/// offset and its hash. All-zero blocks are left out and read back as holes.
/// </summary>
public sealed class FixedBlockChunker : IChunker
{
    public FixedBlockChunker(int blockSize)
    {
        if (!IsValidBlockSize(blockSize))
        {
            throw new CairnException($"invalid image block size {blockSize}: need a power of two from {MinBlockSize} to {MaxBlockSize} bytes");
        }

        MaxSize = blockSize;
    }

    /// <summary>The page size of every platform Cairn runs on: a smaller block could not be a hole.</summary>
    public const int MinBlockSize = 4 << 10;

    public const int MaxBlockSize = 1 << 20;

    public int MaxSize { get; }

    public int Alignment => MaxSize;

    public bool ElidesZeroChunks => true;

    public static bool IsValidBlockSize(int blockSize) => int.IsPow2(blockSize) && blockSize is >= MinBlockSize and <= MaxBlockSize;

    public int NextCut(ReadOnlySpan<byte> data, bool isFinal) =>
        data.Length >= MaxSize ? MaxSize : isFinal ? data.Length : 0;
}
