namespace Cairn.Mount;

/// <summary>
/// Counts operations in progress; <see cref="WaitIdleAsync"/> completes while none is. Background fetches wait on the
/// gate of demand fetches before each request (reads go first), and unmounting waits for all fetches to settle.
/// </summary>
internal sealed class ActivityGate
{
    private readonly Lock _lock = new();
    private int _active;
    private TaskCompletionSource _idle = CreateIdle(completed: true);

    public void Enter()
    {
        lock (_lock)
        {
            if (_active++ == 0)
            {
                _idle = CreateIdle(completed: false);
            }
        }
    }

    public void Exit()
    {
        lock (_lock)
        {
            if (--_active == 0)
            {
                _idle.TrySetResult();
            }
        }
    }

    public Task WaitIdleAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _idle.Task.WaitAsync(cancellationToken);
        }
    }

    private static TaskCompletionSource CreateIdle(bool completed)
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            source.SetResult();
        }

        return source;
    }
}
