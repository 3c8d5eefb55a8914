namespace Cairn.Snapshot;

/// <summary>
/// Bounds the bytes read ahead of the packer. One producer acquires (in file order, so the file the consumer waits
/// for always has its budget: no deadlock), the consumer releases.
/// </summary>
internal sealed class ByteBudget
{
    private readonly long _capacity;
    private readonly Lock _lock = new();
    private long _available;
    private TaskCompletionSource? _waiter;

    public ByteBudget(long capacity)
    {
        _capacity = capacity;
        _available = capacity;
    }

    public async ValueTask AcquireAsync(long bytes, CancellationToken cancellationToken)
    {
        bytes = Math.Min(bytes, _capacity);
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (_available >= bytes)
                {
                    _available -= bytes;
                    return;
                }

                _waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _waiter.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Release(long bytes)
    {
        bytes = Math.Min(bytes, _capacity);
        TaskCompletionSource? waiter;
        lock (_lock)
        {
            _available += bytes;
            waiter = _waiter;
            _waiter = null;
        }

        waiter?.TrySetResult();
    }
}
