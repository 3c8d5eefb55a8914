namespace Cairn.Mount;

/// <summary>
/// A frame being fetched. Every read that needs it joins and gets its own reference to the decoded frame, so one
/// fetch serves all concurrent readers (in-flight deduplication). A background fetch that fails before anyone joined
/// can be abandoned; one with readers waiting is finished by a demand fetch instead.
/// </summary>
internal sealed class PendingFrame(int frame)
{
    private readonly Lock _lock = new();
    private static readonly Task<DecodedFrame?> s_cached = Task.FromResult<DecodedFrame?>(null);
    private readonly List<TaskCompletionSource<DecodedFrame?>> _waiters = [];
    private DecodedFrame? _result;
    private bool _cached;
    private Exception? _error;
    private bool _abandoned;

    public int Frame { get; } = frame;

    /// <summary>
    /// A task for a reference to the decoded frame, or for null if the frame turned out to be cached already (read it
    /// there); null itself if the fetch was abandoned or its result already released (start another).
    /// </summary>
    public Task<DecodedFrame?>? TryJoin()
    {
        lock (_lock)
        {
            if (_abandoned)
            {
                return null;
            }

            if (_cached)
            {
                return s_cached;
            }

            if (_result is not null)
            {
                // Delivered. Once the fetch has let go of it (and no cache holds it) the buffer is gone: the caller
                // finds the frame in the disk cache, or fetches it again.
                return _result.TryAddReference() ? Task.FromResult<DecodedFrame?>(_result) : null;
            }

            if (_error is not null)
            {
                return Task.FromException<DecodedFrame?>(_error);
            }

            var waiter = new TaskCompletionSource<DecodedFrame?>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add(waiter);
            return waiter.Task;
        }
    }

    /// <summary>Hands one reference to <paramref name="decoded"/> to each waiter; the caller keeps its own.</summary>
    public void Complete(DecodedFrame decoded)
    {
        lock (_lock)
        {
            _result = decoded;
            foreach (var waiter in _waiters)
            {
                if (decoded.TryAddReference())
                {
                    waiter.TrySetResult(decoded);
                }
            }

            _waiters.Clear();
        }
    }

    /// <summary>Ends a fetch that found the frame already cached: every waiter gets null and reads it from the cache.</summary>
    public void CompleteCached()
    {
        lock (_lock)
        {
            _cached = true;
            foreach (var waiter in _waiters)
            {
                waiter.TrySetResult(null);
            }

            _waiters.Clear();
        }
    }

    public void Fail(Exception error)
    {
        lock (_lock)
        {
            _error = error;
            foreach (var waiter in _waiters)
            {
                waiter.TrySetException(error);
            }

            _waiters.Clear();
        }
    }

    /// <summary>Gives up the fetch if no reader waits for it (true); false if readers wait and it must be finished.</summary>
    public bool TryAbandon()
    {
        lock (_lock)
        {
            if (_waiters.Count > 0)
            {
                return false;
            }

            _abandoned = true;
            return true;
        }
    }
}
