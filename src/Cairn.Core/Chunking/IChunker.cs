namespace Cairn.Chunking;

/// <summary>
/// Cuts a file's bytes into chunks. The archiver picks one per snapshot kind: content-defined (<see cref="FastCdc"/>)
/// for trees, where insertions shift data and boundaries must follow the content; fixed-size aligned blocks
/// (<see cref="FixedBlockChunker"/>) for VM images, whose bytes change in place at fixed offsets.
/// </summary>
public interface IChunker
{
    /// <summary>The longest chunk this chunker produces.</summary>
    int MaxSize { get; }

    /// <summary>
    /// Cut points fall on multiples of this many bytes of the file (1: anywhere). Data read from the file starts at
    /// such a multiple, so a block read after a hole lines up with the blocks of every other version of the file.
    /// </summary>
    int Alignment { get; }

    /// <summary>
    /// Whether all-zero chunks are left out of the file's chunk references (they read back as holes). Only for
    /// aligned blocks: there a left-out block is exactly a hole the restore can recreate, and a VM image is mostly
    /// such blocks. A content-defined chunker keeps them: a tree's files are restored with the layout they had.
    /// </summary>
    bool ElidesZeroChunks { get; }

    /// <summary>
    /// The length of the next chunk at the start of <paramref name="data"/>, which starts on a cut point. When
    /// <paramref name="isFinal"/> is false and <paramref name="data"/> is too short to decide, returns 0: the caller
    /// must supply more data. A cut point depends only on the bytes before it, so none is missed.
    /// </summary>
    int NextCut(ReadOnlySpan<byte> data, bool isFinal);
}
