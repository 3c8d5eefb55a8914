using System.Buffers;
using Cairn.Format;
using Cairn.Manifests;
using Cairn.Repository;

namespace Cairn.Restore;

/// <summary>
/// Reads one file of a snapshot in order, fetching only the frames it needs, verifying every chunk: what
/// <c>cairn cat</c> uses. Holes read as zeros.
/// </summary>
public static class FileReader
{
    public static async Task CopyToAsync(Repository.Repository repository, Manifest manifest, int entry, Stream output, CancellationToken cancellationToken = default)
    {
        entry = manifest.Canonical(entry);
        ref readonly var e = ref manifest.Entries[entry];
        if (e.Kind != EntryKind.Regular)
        {
            throw new UsageException($"'{manifest.DisplayPath(entry)}' is not a regular file");
        }

        var size = e.Size;
        long position = 0;
        var frameBuffer = ArrayPool<byte>.Shared.Rent(ManifestCodec.MaxFrameLength);
        var zeros = new byte[64 << 10];
        var decodedFrame = -1;
        try
        {
            var refs = manifest.ChunkRefsOf(entry).ToArray();
            foreach (var r in refs)
            {
                await WriteZerosAsync(output, zeros, r.Offset - position, cancellationToken).ConfigureAwait(false);
                var location = manifest.Locations[r.Chunk];
                var frame = manifest.Frames[location.Frame];
                var key = ObjectKeys.Pack(manifest.Packs[frame.Pack]);
                if (decodedFrame != (int)location.Frame)
                {
                    var compressed = ArrayPool<byte>.Shared.Rent((int)frame.CompressedLength);
                    try
                    {
                        await repository.Store.ReadRangeAsync(key, frame.Offset, compressed.AsMemory(0, (int)frame.CompressedLength), cancellationToken).ConfigureAwait(false);
                        FrameCodec.Decode(compressed.AsSpan(0, (int)frame.CompressedLength), frame, frameBuffer, key);
                        decodedFrame = (int)location.Frame;
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(compressed);
                    }
                }

                var chunk = manifest.Chunks[r.Chunk];
                var data = frameBuffer.AsMemory((int)location.OffsetInFrame, (int)chunk.Length);
                FrameCodec.VerifyChunk(data.Span, chunk.Id, key);
                await output.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                position = r.Offset + chunk.Length;
            }

            await WriteZerosAsync(output, zeros, size - position, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frameBuffer);
        }
    }

    private static async Task WriteZerosAsync(Stream output, byte[] zeros, long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            var n = (int)Math.Min(count, zeros.Length);
            await output.WriteAsync(zeros.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            count -= n;
        }
    }
}
