namespace Cairn.Storage.S3;

/// <summary>
/// A seekable, read-only stream over the caller's <see cref="ReadOnlyMemory{T}"/>: uploads never copy the
/// data they are given. Every read reports progress, which keeps the attempt's idle timer from firing
/// while the body is being sent.
/// </summary>
internal sealed class ReadOnlyMemoryStream : Stream
{
    private readonly ReadOnlyMemory<byte> _data;
    private readonly Action? _onProgress;
    private int _position;

    public ReadOnlyMemoryStream(ReadOnlyMemory<byte> data, Action? onProgress = null)
    {
        _data = data;
        _onProgress = onProgress;
    }

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => _data.Length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _data.Length - _position);
        if (n <= 0)
        {
            return 0;
        }

        _data.Span.Slice(_position, n).CopyTo(buffer);
        _position += n;
        _onProgress?.Invoke();
        return n;
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested ? Task.FromCanceled<int>(cancellationToken) : Task.FromResult(Read(buffer, offset, count));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        cancellationToken.IsCancellationRequested ? ValueTask.FromCanceled<int>(cancellationToken) : new ValueTask<int>(Read(buffer.Span));

    public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
    {
        // Hand the memory over in slices, without an intermediate buffer.
        const int Slice = 256 * 1024;
        while (_position < _data.Length)
        {
            var n = Math.Min(Slice, _data.Length - _position);
            await destination.WriteAsync(_data.Slice(_position, n), cancellationToken).ConfigureAwait(false);
            _position += n;
            _onProgress?.Invoke();
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => _data.Length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        ArgumentOutOfRangeException.ThrowIfNegative(target, nameof(offset));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(target, _data.Length, nameof(offset));
        _position = (int)target;
        return _position;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
