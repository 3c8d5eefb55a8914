using System.Diagnostics;
using Cairn.Buffers;
using Cairn.Diagnostics;
using Cairn.Format;
using Cairn.Native.Zstd;

namespace Cairn.Repository;

/// <summary>
/// Turns the new chunks of a snapshot run into packs. Chunks are appended to the open frame; a full frame is
/// compressed on the thread pool while the caller goes on; compressed frames are appended to the open pack strictly
/// in order (so packs follow the tree walk); a full pack gets its index and trailer, is named by its SHA-256 and
/// uploaded while the next one fills. Memory is bounded: at most <c>maxPendingFrames</c> frames and
/// <c>maxPendingUploads</c> packs are in flight. Not thread-safe: one producer calls it.
/// </summary>
public sealed class PackWriter : IAsyncDisposable
{
    private readonly Repository _repository;
    private readonly ChunkIndex _index;
    private readonly int _frameSize;
    private readonly int _packSize;
    private readonly int _maxPendingFrames;
    private readonly int _maxPendingUploads;
    private readonly Queue<Task<CompressedFrame>> _compressing = new();
    private readonly Queue<Task> _uploading = new();
    private readonly List<(ContentId Pack, PackIndex Index)> _written = [];
    private readonly CancellationToken _cancellationToken;

    // The open frame.
    private PageAlignedBuffer? _frame;
    private int _frameLength;
    private int _frameNumber = -1;
    private List<(ContentId Id, int Offset, int Length)> _frameChunks = [];
    private SegmentTrial? _frameSegments;

    // The open pack.
    private PageAlignedBuffer? _pack;
    private int _packLength;
    private bool _packSegmented;
    private readonly List<FrameInfo> _packFrames = [];
    private readonly List<int> _packFrameNumbers = [];
    private readonly List<int> _packSegmentSizes = [];
    private readonly List<PackChunk> _packChunks = [];

    private long _storedBytes;

    // Time the producer spent waiting for a compressed frame or for an upload slot (reported by CAIRN_TRACE).
    private long _frameWaitTicks;
    private long _uploadWaitTicks;

    // Reused exact-size buffers outside the GC heap, unmapped when the writer is disposed (see PageAlignedBuffer).
    private readonly FixedBufferPool _frameBuffers;
    private readonly FixedBufferPool _compressedBuffers;
    private readonly FixedBufferPool _packBuffers;

    public PackWriter(Repository repository, ChunkIndex index, CancellationToken cancellationToken)
    {
        _repository = repository;
        _index = index;
        _frameSize = repository.Config.FrameSize;
        _packSize = repository.Config.PackSize;
        _maxPendingFrames = Environment.ProcessorCount + 1;
        _maxPendingUploads = 2;
        _frameBuffers = new FixedBufferPool(_frameSize + repository.Config.MaxChunkLength);
        _compressedBuffers = new FixedBufferPool(Math.Max(
            ZstdEncoder.GetMaxCompressedLength(_frameBuffers.BufferSize),
            FrameSegments.MaxCompressedLength(_frameBuffers.BufferSize, SegmentTrial.SegmentSize)));
        _packBuffers = new FixedBufferPool(_packSize + _compressedBuffers.BufferSize + (1 << 20));
        _cancellationToken = cancellationToken;
    }

    /// <summary>Bytes of the packs written so far.</summary>
    public long StoredBytes => Interlocked.Read(ref _storedBytes);

    /// <summary>The packs this writer wrote and what they hold, for the run's index object.</summary>
    public IReadOnlyList<(ContentId Pack, PackIndex Index)> WrittenPacks => _written;

    /// <summary>
    /// Appends a chunk (one the repository does not hold yet, or a copy of one) and points the index at it. A frame
    /// is compressed in segments as the <paramref name="segments"/> trial of its first chunk decides (none: whole).
    /// </summary>
    public ValueTask AddChunkAsync(ContentId id, ReadOnlySpan<byte> data, SegmentTrial? segments = null)
    {
        if (_frame is null)
        {
            _frame = _frameBuffers.Rent();
            _frameNumber = _index.ReserveFrame();
            _frameSegments = segments;
        }

        data.CopyTo(_frame.Span[_frameLength..]);
        _frameChunks.Add((id, _frameLength, data.Length));
        _index.Place(id, new ChunkSlot(_frameNumber, _frameLength, data.Length));
        _frameLength += data.Length;
        return _frameLength >= _frameSize ? SealFrameAsync() : ValueTask.CompletedTask;
    }

    /// <summary>Writes everything still open and waits for every upload.</summary>
    public async ValueTask FlushAsync()
    {
        await SealFrameAsync().ConfigureAwait(false);
        while (_compressing.Count > 0)
        {
            await AssembleOldestAsync().ConfigureAwait(false);
        }

        await FinishPackAsync().ConfigureAwait(false);
        PhaseTrace.Mark($"packs: {_written.Count} written; the packer waited {Stopwatch.GetElapsedTime(0, _frameWaitTicks).TotalMilliseconds:F0} ms for compressed frames, {Stopwatch.GetElapsedTime(0, _uploadWaitTicks).TotalMilliseconds:F0} ms for upload slots");
        while (_uploading.Count > 0)
        {
            await _uploading.Dequeue().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // On failure: let in-flight work end before buffers go back to the pool.
        foreach (var task in _compressing.Cast<Task>().Concat(_uploading))
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The failure that matters was already reported to the caller.
            }
        }

        _frame = null;
        _pack = null;
        _frameBuffers.Dispose();
        _compressedBuffers.Dispose();
        _packBuffers.Dispose();
    }

    private async ValueTask SealFrameAsync()
    {
        if (_frame is null)
        {
            return;
        }

        var frame = _frame;
        var length = _frameLength;
        var chunks = _frameChunks;
        var number = _frameNumber;
        var segments = _frameSegments;
        _frame = null;
        _frameLength = 0;
        _frameChunks = [];
        _frameSegments = null;
        var choice = segments is null || length <= SegmentTrial.SegmentSize ? SegmentTrial.Choice.Whole : await segments.NextAsync().ConfigureAwait(false);
        var compressed = Task.Run(() => Compress(frame, length, chunks, number, choice), _cancellationToken);
        _compressing.Enqueue(compressed);
        if (choice == SegmentTrial.Choice.Trial)
        {
            segments!.Started(VerdictOf(compressed));
        }
        while (_compressing.Count >= _maxPendingFrames)
        {
            await AssembleOldestAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A trial's verdict: whether the frame it compressed both ways kept the segmented form. A compression that fails
    /// is reported by the frame's own task (<see cref="AssembleOldestAsync"/>); the verdict's failure, which nothing
    /// may await (the stream can end first), is marked observed.
    /// </summary>
    private static Task<bool> VerdictOf(Task<CompressedFrame> trial)
    {
        var verdict = trial.ContinueWith(static t => t.GetAwaiter().GetResult().SegmentSize > 0, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        verdict.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return verdict;
    }

    private CompressedFrame Compress(PageAlignedBuffer frame, int length, List<(ContentId Id, int Offset, int Length)> chunks, int number, SegmentTrial.Choice choice)
    {
        var encoder = CodecPool.RentEncoder(_repository.Config.CompressionLevel);
        try
        {
            var input = frame.Span[..length];
            var output = _compressedBuffers.Rent();
            int written;
            if (choice == SegmentTrial.Choice.Segments)
            {
                written = FrameSegments.Compress(encoder, input, SegmentTrial.SegmentSize, output.Span);
            }
            else
            {
                written = encoder.Compress(input, output.Span);
                if (choice == SegmentTrial.Choice.Trial)
                {
                    var segmented = _compressedBuffers.Rent();
                    var segmentedLength = FrameSegments.Compress(encoder, input, SegmentTrial.SegmentSize, segmented.Span);
                    if (SegmentTrial.Keeps(written, segmentedLength))
                    {
                        (output, segmented, written) = (segmented, output, segmentedLength);
                    }

                    _compressedBuffers.Return(segmented);
                }
            }

            return new CompressedFrame(output, written, length, Crc32C.Compute(output.Span[..written]), chunks, number, FrameSegments.SegmentSizeOf(output.Span[..written]));
        }
        finally
        {
            CodecPool.Return(encoder);
            _frameBuffers.Return(frame);
        }
    }

    private async ValueTask AssembleOldestAsync()
    {
        var started = Stopwatch.GetTimestamp();
        var frame = await _compressing.Dequeue().ConfigureAwait(false);
        _frameWaitTicks += Stopwatch.GetTimestamp() - started;
        try
        {
            // The pack buffer has room for the target size plus one frame plus the index and trailer.
            if (_pack is not null && _packLength + frame.Length > _packSize)
            {
                await FinishPackAsync().ConfigureAwait(false);
            }

            if (_pack is null)
            {
                _pack = _packBuffers.Rent();
                _packLength = PackFormat.HeaderSize;
                _packSegmented = false;
            }

            frame.Data.Span[..frame.Length].CopyTo(_pack.Span[_packLength..]);
            var frameIndex = _packFrames.Count;
            _packFrames.Add(new FrameInfo(_packLength, frame.Length, frame.UncompressedLength, frame.Checksum));
            _packFrameNumbers.Add(frame.Number);
            _packSegmentSizes.Add(frame.SegmentSize);
            foreach (var (id, offset, length) in frame.Chunks)
            {
                _packChunks.Add(new PackChunk(id, frameIndex, offset, length));
            }

            _packLength += frame.Length;
            _packSegmented |= frame.SegmentSize > 0;
        }
        finally
        {
            _compressedBuffers.Return(frame.Data);
        }

        if (_packLength >= _packSize)
        {
            await FinishPackAsync().ConfigureAwait(false);
        }
    }

    private async ValueTask FinishPackAsync()
    {
        if (_pack is null)
        {
            return;
        }

        var index = new PackIndex(_packFrames.ToArray(), _packChunks.ToArray());
        var encoder = CodecPool.RentEncoder(_repository.Config.CompressionLevel);
        byte[] tail;
        try
        {
            // The header too is written last: the version says whether any frame is segmented.
            var version = PackFormat.VersionFor(_packSegmented);
            PackFormat.WriteHeader(_pack.Span, version);
            tail = PackFormat.EncodeIndexAndTrailer(index, _packLength, encoder, version);
        }
        finally
        {
            CodecPool.Return(encoder);
        }

        var buffer = _pack;
        var length = _packLength + tail.Length;
        ReadOnlyMemory<byte> pack;
        if (length <= buffer.Length)
        {
            tail.CopyTo(buffer.Span[_packLength..]);
            pack = buffer.Memory[..length];
        }
        else
        {
            // Only a pathological index (hundreds of thousands of tiny chunks) gets here: the pack goes out of an array.
            var whole = new byte[length];
            buffer.Span[.._packLength].CopyTo(whole);
            tail.CopyTo(whole.AsSpan(_packLength));
            _packBuffers.Return(buffer);
            buffer = null;
            pack = whole;
        }

        var id = ContentId.Hash(pack.Span);
        for (var i = 0; i < _packFrames.Count; i++)
        {
            _index.CompleteFrame(_packFrameNumbers[i], id, _packFrames[i], _packSegmentSizes[i]);
        }

        _written.Add((id, index));
        _pack = null;
        _packLength = 0;
        _packFrames.Clear();
        _packFrameNumbers.Clear();
        _packSegmentSizes.Clear();
        _packChunks.Clear();

        var key = ObjectKeys.Pack(id);

        // Wait for a slot before starting: with the pack being filled, at most maxPendingUploads + 1 pack buffers live.
        var waitStarted = Stopwatch.GetTimestamp();
        while (_uploading.Count >= _maxPendingUploads)
        {
            await _uploading.Dequeue().ConfigureAwait(false);
        }

        _uploadWaitTicks += Stopwatch.GetTimestamp() - waitStarted;

        _uploading.Enqueue(Task.Run(async () =>
        {
            await _repository.Store.PutAsync(key, pack, cancellationToken: _cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _storedBytes, length);
            if (buffer is not null)
            {
                _packBuffers.Return(buffer);
            }
        }, _cancellationToken));
    }

    private sealed record CompressedFrame(PageAlignedBuffer Data, int Length, int UncompressedLength, uint Checksum, List<(ContentId Id, int Offset, int Length)> Chunks, int Number, int SegmentSize);
}
