using System.Buffers;
using System.Security.Cryptography;
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
    private byte[]? _frame;
    private int _frameLength;
    private int _frameNumber = -1;
    private List<(ContentId Id, int Offset, int Length)> _frameChunks = [];

    // The open pack.
    private byte[]? _pack;
    private int _packLength;
    private readonly List<FrameInfo> _packFrames = [];
    private readonly List<int> _packFrameNumbers = [];
    private readonly List<PackChunk> _packChunks = [];

    private long _storedBytes;

    public PackWriter(Repository repository, ChunkIndex index, CancellationToken cancellationToken)
    {
        _repository = repository;
        _index = index;
        _frameSize = repository.Config.FrameSize;
        _packSize = repository.Config.PackSize;
        _maxPendingFrames = Math.Max(2, Environment.ProcessorCount * 2);
        _maxPendingUploads = 2;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Bytes of the packs written so far.</summary>
    public long StoredBytes => Interlocked.Read(ref _storedBytes);

    /// <summary>The packs this writer wrote and what they hold, for the run's index object.</summary>
    public IReadOnlyList<(ContentId Pack, PackIndex Index)> WrittenPacks => _written;

    /// <summary>Appends a chunk the repository does not hold yet and records it in the index.</summary>
    public ValueTask AddChunkAsync(ContentId id, ReadOnlySpan<byte> data)
    {
        if (_frame is null)
        {
            _frame = ArrayPool<byte>.Shared.Rent(_frameSize + _repository.Config.ChunkMax);
            _frameNumber = _index.ReserveFrame();
        }

        data.CopyTo(_frame.AsSpan(_frameLength));
        _frameChunks.Add((id, _frameLength, data.Length));
        _index.AddChunk(id, new ChunkSlot(_frameNumber, _frameLength, data.Length));
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

        if (_frame is not null)
        {
            ArrayPool<byte>.Shared.Return(_frame);
            _frame = null;
        }
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
        _frame = null;
        _frameLength = 0;
        _frameChunks = [];
        _compressing.Enqueue(Task.Run(() => Compress(frame, length, chunks, number, _repository.Config.CompressionLevel), _cancellationToken));
        while (_compressing.Count >= _maxPendingFrames)
        {
            await AssembleOldestAsync().ConfigureAwait(false);
        }
    }

    [ThreadStatic]
    private static ZstdEncoder? t_encoder;

    private static CompressedFrame Compress(byte[] frame, int length, List<(ContentId Id, int Offset, int Length)> chunks, int number, int level)
    {
        try
        {
            var encoder = t_encoder;
            if (encoder is null || encoder.Level != level)
            {
                encoder?.Dispose();
                encoder = t_encoder = new ZstdEncoder(level);
            }

            var output = ArrayPool<byte>.Shared.Rent(ZstdEncoder.GetMaxCompressedLength(length));
            var written = encoder.Compress(frame.AsSpan(0, length), output);
            return new CompressedFrame(output, written, length, Crc32C.Compute(output.AsSpan(0, written)), chunks, number);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame);
        }
    }

    private async ValueTask AssembleOldestAsync()
    {
        var frame = await _compressing.Dequeue().ConfigureAwait(false);
        try
        {
            if (_pack is not null && _packLength + frame.Length > _packSize + (_packSize / 8))
            {
                await FinishPackAsync().ConfigureAwait(false);
            }

            if (_pack is null)
            {
                _pack = GC.AllocateUninitializedArray<byte>(Math.Max(_packSize + (_packSize / 4), PackFormat.HeaderSize + frame.Length));
                PackFormat.WriteHeader(_pack);
                _packLength = PackFormat.HeaderSize;
            }

            if (_packLength + frame.Length > _pack.Length)
            {
                Array.Resize(ref _pack, _packLength + frame.Length + (_packSize / 4));
            }

            frame.Data.AsSpan(0, frame.Length).CopyTo(_pack.AsSpan(_packLength));
            var frameIndex = _packFrames.Count;
            _packFrames.Add(new FrameInfo(_packLength, frame.Length, frame.UncompressedLength, frame.Checksum));
            _packFrameNumbers.Add(frame.Number);
            foreach (var (id, offset, length) in frame.Chunks)
            {
                _packChunks.Add(new PackChunk(id, frameIndex, offset, length));
            }

            _packLength += frame.Length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(frame.Data);
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
        var tail = PackFormat.EncodeIndexAndTrailer(index, _packLength, ZstdFramesEncoder);
        var pack = _pack;
        if (_packLength + tail.Length > pack.Length)
        {
            Array.Resize(ref pack, _packLength + tail.Length);
        }

        tail.CopyTo(pack.AsSpan(_packLength));
        var length = _packLength + tail.Length;
        var id = new ContentId(SHA256.HashData(pack.AsSpan(0, length)));
        for (var i = 0; i < _packFrames.Count; i++)
        {
            _index.CompleteFrame(_packFrameNumbers[i], id, _packFrames[i]);
        }

        _written.Add((id, index));
        _pack = null;
        _packLength = 0;
        _packFrames.Clear();
        _packFrameNumbers.Clear();
        _packChunks.Clear();

        var key = ObjectKeys.Pack(id);
        _uploading.Enqueue(Task.Run(async () =>
        {
            await _repository.Store.PutAsync(key, pack.AsMemory(0, length), cancellationToken: _cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _storedBytes, length);
        }, _cancellationToken));
        while (_uploading.Count > _maxPendingUploads)
        {
            await _uploading.Dequeue().ConfigureAwait(false);
        }
    }

    private ZstdEncoder ZstdFramesEncoder => t_encoder ??= new ZstdEncoder(_repository.Config.CompressionLevel);

    private sealed record CompressedFrame(byte[] Data, int Length, int UncompressedLength, uint Checksum, List<(ContentId Id, int Offset, int Length)> Chunks, int Number);
}
