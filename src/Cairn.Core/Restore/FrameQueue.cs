using Cairn.Buffers;

namespace Cairn.Restore;

/// <summary>
/// Hands the frames of fetched reads to the decode threads of a <see cref="FramePipeline"/>. A thread takes a whole
/// read and works through its frames from the front; a thread that finds no read waiting takes frames from the back
/// of the read with the most frames left, so no core idles while another has work (at the end of a restore, or while
/// reads are slower than decoding).
/// </summary>
/// <remarks>
/// Why not one frame at a time from a single queue, which balances as well: neighbouring frames hold neighbouring
/// files (same directories, often the same file), and two threads creating and writing them at once cost 2–3× the
/// kernel time of one (measured on the ws workspace: 5–6 s of system time against 1.7–2.2 s, most of it in ext4's
/// inode allocation). The front and the back of a read are far apart in the tree.
/// </remarks>
internal sealed class FrameQueue
{
    private readonly object _gate = new(); // Monitor.Wait/Pulse need a Monitor lock, not a Lock
    private readonly Queue<FetchedRead> _waiting = new();
    private readonly List<FetchedRead> _started = [];
    private bool _complete;
    private bool _stopped;
    private int _idle;

    /// <summary>A thread's place: the read it is working on, and from which end.</summary>
    public struct Cursor
    {
        internal FetchedRead? Read;
        internal bool FromBack;
    }

    public void Add(FetchedRead read)
    {
        lock (_gate)
        {
            _waiting.Enqueue(read);
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>No more reads will be added: threads return once the frames are all taken.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _complete = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Stops handing out frames: every waiting thread returns.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>The next frame for the thread at <paramref name="cursor"/> (an index into its read's frames); false when there is no more work.</summary>
    public bool TryTake(ref Cursor cursor, out FetchedRead read, out int index)
    {
        lock (_gate)
        {
            while (!_stopped)
            {
                var own = cursor.Read;
                if (own is not null && !cursor.FromBack && own.Next < own.End)
                {
                    return Claim(own, fromBack: false, out read, out index);
                }

                if (_waiting.TryDequeue(out var fresh))
                {
                    cursor = new Cursor { Read = fresh };
                    _started.Add(fresh);
                    if (_idle > 0)
                    {
                        Monitor.Pulse(_gate); // an idle thread can take from the back of this one
                    }

                    continue;
                }

                if (own is not null && cursor.FromBack && own.Next < own.End)
                {
                    return Claim(own, fromBack: true, out read, out index);
                }

                if (_started.Count > 0)
                {
                    cursor = new Cursor { Read = _started.MaxBy(r => r.End - r.Next), FromBack = true };
                    continue;
                }

                if (_complete)
                {
                    break;
                }

                _idle++;
                Monitor.Wait(_gate);
                _idle--;
            }
        }

        (read, index) = (null!, -1);
        return false;
    }

    private bool Claim(FetchedRead from, bool fromBack, out FetchedRead read, out int index)
    {
        index = fromBack ? --from.End : from.Next++;
        if (from.Next == from.End)
        {
            _started.Remove(from);
        }

        read = from;
        return true;
    }
}

/// <summary>A read fetched into its buffer: which of its frames are not handed out yet, and how many are not done.</summary>
internal sealed class FetchedRead(PageAlignedBuffer buffer, PackRead read, string key)
{
    public PageAlignedBuffer Buffer { get; } = buffer;

    public PackRead Read { get; } = read;

    /// <summary>The pack, for messages.</summary>
    public string Key { get; } = key;

#pragma warning disable CA1051 // Claimed under the queue's lock (Next, End) and counted down with Interlocked (Pending).
    internal int Next;
    internal int End = read.FrameCount;
    internal int Pending = read.FrameCount;
#pragma warning restore CA1051
}
