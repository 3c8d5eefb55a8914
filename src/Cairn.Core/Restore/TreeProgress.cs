namespace Cairn.Restore;

/// <summary>
/// How far the structure phase of a restore has got, in manifest order: lets the decode threads write files while the
/// directories further down the tree are still being created (in a manifest a directory always comes before
/// everything in it). On the ws workspace creating the 4,500 directories takes ~0.2 s of one
/// core, which the other core now spends decoding.
/// </summary>
internal sealed class TreeProgress
{
    private readonly object _gate = new(); // Monitor.Wait/Pulse need a Monitor lock, not a Lock
    private int _created;
    private int _waiting;
    private Exception? _failure;

    /// <summary>Entries [0, <paramref name="created"/>) exist.</summary>
    public void Advance(int created)
    {
        lock (_gate)
        {
            _created = created;
            if (_waiting > 0)
            {
                Monitor.PulseAll(_gate);
            }
        }
    }

    /// <summary>The structure phase failed: every thread waiting for an entry gets <paramref name="failure"/>.</summary>
    public void Fail(Exception failure)
    {
        lock (_gate)
        {
            _failure = failure;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Returns once entry <paramref name="entry"/> exists (at once, after the structure phase).</summary>
    public void WaitFor(int entry)
    {
        if (Volatile.Read(ref _created) > entry)
        {
            return;
        }

        lock (_gate)
        {
            _waiting++;
            try
            {
                while (_created <= entry)
                {
                    if (_failure is not null)
                    {
                        throw _failure;
                    }

                    Monitor.Wait(_gate);
                }
            }
            finally
            {
                _waiting--;
            }
        }
    }
}
