using System.Runtime.InteropServices;
using Cairn.Chunking;
using Cairn.Format;
using Cairn.Native.Hashing;
using Cairn.Native.Linux;

namespace Cairn.Snapshot;

/// <summary>A chunk cut from a file: where it is in the file and in the read buffer, and its hash.</summary>
internal readonly record struct ChunkPiece(long FileOffset, int BufferOffset, int Length, ContentId Id);

/// <summary>The contents of a small file, read whole, cut and hashed by a reader thread.</summary>
internal sealed class FileContent
{
    /// <summary>
    /// The file's bytes (holes as they were in the buffer: the chunks say which ranges count): its size, or less if it
    /// got shorter during the last read of a file that kept changing.
    /// </summary>
    public required ReadOnlyMemory<byte> Data { get; init; }

    public required List<ChunkPiece> Chunks { get; init; }

    /// <summary>
    /// The metadata of the file opened, as it was before it was read (unchanged after, unless <see cref="Changed"/>):
    /// another file than the one listed if the name was replaced in between, and perhaps not a regular file (then
    /// nothing was read).
    /// </summary>
    public required StatxInfo Stat { get; init; }

    /// <summary>The file changed during each of the <see cref="FileContentReader.Attempts"/> reads: this is the last, which may be torn.</summary>
    public bool Changed { get; init; }

    /// <summary>Bytes of all-zero chunks left out (see <see cref="IChunker.ElidesZeroChunks"/>).</summary>
    public required long ZeroBytes { get; init; }

    /// <summary>The file's xattrs, read through the same descriptor as its content.</summary>
    public required List<KeyValuePair<byte[], byte[]>> Xattrs { get; init; }
}

/// <summary>
/// Reading files consistently: the data extents (holes are skipped with SEEK_DATA/SEEK_HOLE), and a check that the
/// file did not change while it was read (size, mtime and ctime before and after), retried a few times; a file that
/// changes during every read is stored as last read, and said so — never stored torn in silence.
/// </summary>
internal static class FileContentReader
{
    public const int Attempts = 3;

    /// <summary>
    /// The byte ranges of the file that hold data, widened to multiples of <paramref name="alignment"/> (so an
    /// aligned chunker cuts the same blocks whatever the holes). A file without holes is one extent.
    /// </summary>
    public static List<(long Offset, long Length)> DataExtents(FileDescriptor fd, in StatxInfo stat, int alignment)
    {
        // st_blocks below the size is the cheap hint that holes exist; only then ask for the extents.
        if (stat.Size == 0 || stat.Blocks * 512 >= stat.Size)
        {
            return stat.Size == 0 ? [] : [(0, stat.Size)];
        }

        var extents = new List<(long, long)>();
        long position = 0;
        while (position < stat.Size)
        {
            var data = LinuxFile.SeekData(fd, position);
            if (data < 0 || data >= stat.Size)
            {
                break;
            }

            var hole = LinuxFile.SeekHole(fd, data);
            var start = data / alignment * alignment;
            var end = Math.Min((Math.Min(hole < 0 ? stat.Size : hole, stat.Size) + alignment - 1) / alignment * alignment, stat.Size);
            if (extents.Count > 0 && extents[^1].Item1 + extents[^1].Item2 >= start)
            {
                start = extents[^1].Item1;
                extents.RemoveAt(extents.Count - 1);
            }

            extents.Add((start, end - start));
            position = end;
        }

        return extents;
    }

    public static bool SameVersion(in StatxInfo a, in StatxInfo b) =>
        a.Size == b.Size && a.MTimeNs == b.MTimeNs && a.CTimeNs == b.CTimeNs && a.Inode == b.Inode;

    /// <summary>
    /// Opens a listed file to read it. Without blocking (O_NONBLOCK, which changes nothing for reads of a regular
    /// file): a FIFO put at the name since it was listed would wait for a writer, forever, and a terminal for carrier.
    /// The caller checks what was opened (fstat), never the name.
    /// </summary>
    public static FileDescriptor Open(DirectoryHandle directory, byte[] name) =>
        LinuxFile.OpenAt(directory.Descriptor, name, OpenFlags.ReadOnly | OpenFlags.NoFollow | OpenFlags.NonBlock);

    /// <summary>
    /// Reads a whole file into <paramref name="buffer"/> (or, if it has grown past it since it was listed, into an
    /// array of its own), then cuts and hashes it. What is at <paramref name="name"/> may no longer be a regular file:
    /// then only its metadata and xattrs are read, and the caller decides.
    /// </summary>
    public static FileContent ReadWhole(DirectoryHandle directory, byte[] name, IChunker chunker, Memory<byte> buffer)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var fd = Open(directory, name);
            var before = LinuxFile.Stat(fd);
            if (before.Kind != FileKind.Regular)
            {
                return new FileContent { Data = default, Chunks = [], Stat = before, ZeroBytes = 0, Xattrs = LinuxFile.ReadXattrs(fd) };
            }

            var extents = DataExtents(fd, before, chunker.Alignment);
            var data = before.Size <= buffer.Length ? buffer[..(int)before.Size] : new byte[before.Size];
            var read = before.Size;
            foreach (var (offset, length) in extents)
            {
                var got = ReadFully(fd, data.Span.Slice((int)offset, (int)length), offset);
                if (got < length)
                {
                    read = offset + got; // it got shorter: what follows was not read
                    break;
                }
            }

            var after = LinuxFile.Stat(fd);
            var consistent = read == before.Size && SameVersion(before, after);
            if (consistent || attempt == Attempts)
            {
                var chunks = new List<ChunkPiece>();
                long zeroBytes = 0;
                foreach (var (offset, length) in extents)
                {
                    var end = Math.Min(offset + length, read);
                    if (end > offset)
                    {
                        zeroBytes += Cut(chunker, data.Span[(int)offset..(int)end], offset, (int)offset, isFinal: true, chunks).ZeroBytes;
                    }
                }

                // Kept changing: stored as last read, with the metadata from before that read. Its ctime is older than
                // the file's now, so the next incremental snapshot reads it again rather than keep a torn copy.
                return new FileContent { Data = data[..(int)read], Chunks = chunks, Stat = before, ZeroBytes = zeroBytes, Xattrs = LinuxFile.ReadXattrs(fd), Changed = !consistent };
            }
        }
    }

    /// <summary>
    /// Cuts <paramref name="data"/> (which starts at <paramref name="fileOffset"/>, on a cut point) into chunks and
    /// hashes them, leaving out all-zero chunks if the chunker elides them. Stops where the chunker needs more data
    /// (never when <paramref name="isFinal"/>); returns the bytes consumed and how many of them were elided zeros.
    /// </summary>
    public static (int Consumed, long ZeroBytes) Cut(IChunker chunker, ReadOnlySpan<byte> data, long fileOffset, int bufferOffset, bool isFinal, List<ChunkPiece> chunks)
    {
        var position = 0;
        long zeroBytes = 0;
        var first = chunks.Count;
        while (position < data.Length)
        {
            var length = chunker.NextCut(data[position..], isFinal);
            if (length == 0)
            {
                break;
            }

            if (chunker.ElidesZeroChunks && !data.Slice(position, length).ContainsAnyExcept((byte)0))
            {
                zeroBytes += length;
            }
            else
            {
                chunks.Add(new ChunkPiece(fileOffset + position, bufferOffset + position, length, default));
            }

            position += length;
        }

        NameChunks(data, bufferOffset, CollectionsMarshal.AsSpan(chunks)[first..]);
        return (position, zeroBytes);
    }

    /// <summary>Hashes the pieces cut from <paramref name="data"/> all at once: an image's 4 KiB blocks go sixteen to a batch (<see cref="ContentId.HashMany"/>).</summary>
    private static void NameChunks(ReadOnlySpan<byte> data, int bufferOffset, Span<ChunkPiece> pieces)
    {
        using var batch = new IdBatch(pieces.Length);
        for (var i = 0; i < pieces.Length; i++)
        {
            batch.Ranges[i] = new MessageRange(pieces[i].BufferOffset - bufferOffset, pieces[i].Length);
        }

        var ids = batch.Hash(data);
        for (var i = 0; i < pieces.Length; i++)
        {
            pieces[i] = pieces[i] with { Id = ids[i] };
        }
    }

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; returns the bytes read, fewer if the file ended first.</summary>
    public static int ReadFully(FileDescriptor fd, Span<byte> buffer, long offset)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = LinuxFile.Read(fd, buffer[total..], offset + total);
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return total;
    }
}
