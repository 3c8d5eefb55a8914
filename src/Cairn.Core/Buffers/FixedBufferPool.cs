namespace Cairn.Buffers;

/// <summary>
/// Reusable buffers of one exact size. <see cref="System.Buffers.ArrayPool{T}.Shared"/> rounds up to a power of two
/// (a 2.25 MiB frame would take a 4 MiB array) and keeps arrays per core; for the few large buffers of the write
/// path an exact-size stack keeps peak memory what the pipeline's bounds say it is.
/// </summary>
public sealed class FixedBufferPool
{
    private readonly Stack<byte[]> _free = new();

    public FixedBufferPool(int bufferSize)
    {
        BufferSize = bufferSize;
    }

    public int BufferSize { get; }

    public byte[] Rent()
    {
        lock (_free)
        {
            if (_free.TryPop(out var buffer))
            {
                return buffer;
            }
        }

        return GC.AllocateUninitializedArray<byte>(BufferSize);
    }

    public void Return(byte[] buffer)
    {
        if (buffer.Length != BufferSize)
        {
            throw new ArgumentException("buffer does not belong to this pool", nameof(buffer));
        }

        lock (_free)
        {
            _free.Push(buffer);
        }
    }
}
