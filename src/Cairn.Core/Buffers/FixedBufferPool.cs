namespace Cairn.Buffers;

/// <summary>
/// Reuses buffers of one size. Each is allocated on first need and reused after <see cref="Return"/>; all of them
/// are unmapped by <see cref="Dispose"/>, which the owner calls once nothing rented can still be in use. Thread-safe.
/// </summary>
public sealed class FixedBufferPool : IDisposable
{
    private readonly Stack<PageAlignedBuffer> _free = new();
    private readonly List<PageAlignedBuffer> _all = [];
    private bool _disposed;

    public FixedBufferPool(int bufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bufferSize);
        BufferSize = bufferSize;
    }

    public int BufferSize { get; }

    public PageAlignedBuffer Rent()
    {
        lock (_free)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_free.TryPop(out var buffer))
            {
                return buffer;
            }

            buffer = new PageAlignedBuffer(BufferSize);
            _all.Add(buffer);
            return buffer;
        }
    }

    public void Return(PageAlignedBuffer buffer)
    {
        if (buffer.Length != BufferSize)
        {
            throw new ArgumentException("buffer does not belong to this pool", nameof(buffer));
        }

        lock (_free)
        {
            if (!_disposed)
            {
                _free.Push(buffer);
            }
        }
    }

    /// <summary>Unmaps every buffer this pool allocated, rented or not.</summary>
    public void Dispose()
    {
        lock (_free)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var buffer in _all)
            {
                buffer.Dispose();
            }

            _all.Clear();
            _free.Clear();
        }
    }
}
