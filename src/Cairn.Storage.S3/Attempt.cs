namespace Cairn.Storage.S3;

/// <summary>
/// One attempt of a request: its number, its cancellation token and its idle deadline. The deadline is
/// pushed back whenever the attempt makes progress (<see cref="Progress"/>), so a stalled connection fails
/// after <see cref="S3StoreOptions.RequestTimeout"/> while a long transfer that keeps moving does not.
/// </summary>
internal sealed class Attempt : IDisposable
{
    private readonly CancellationTokenSource _deadline;
    private readonly TimeSpan _idleTimeout;
    private int _disposed;

    public Attempt(int number, TimeSpan idleTimeout, CancellationToken cancellationToken)
    {
        Number = number;
        _idleTimeout = idleTimeout;
        _deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _deadline.CancelAfter(idleTimeout);
    }

    /// <summary>1 for the first attempt.</summary>
    public int Number { get; }

    /// <summary>Cancelled by the caller or when the attempt times out.</summary>
    public CancellationToken Token => _deadline.Token;

    /// <summary>Bytes of payload this attempt moved, for <see cref="StoreStatistics"/>.</summary>
    public long Transferred { get; set; }

    /// <summary>True when the attempt's own deadline fired.</summary>
    public bool TimedOut(CancellationToken callerToken) => _deadline.IsCancellationRequested && !callerToken.IsCancellationRequested;

    /// <summary>Bytes moved: restart the idle timer.</summary>
    public void Progress()
    {
        if (Volatile.Read(ref _disposed) != 0 || _deadline.IsCancellationRequested)
        {
            return;
        }

        try
        {
            _deadline.CancelAfter(_idleTimeout);
        }
        catch (ObjectDisposedException)
        {
            // The SDK read the body stream after the attempt ended: nothing to time any more.
        }
    }

    /// <summary>Allows a longer wait for the next step (e.g. the server assembling a multipart upload).</summary>
    public void Extend(TimeSpan timeout)
    {
        if (Volatile.Read(ref _disposed) == 0 && !_deadline.IsCancellationRequested)
        {
            _deadline.CancelAfter(timeout);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _deadline.Dispose();
        }
    }
}
