namespace Cairn.Mount;

/// <summary>
/// The last few frames fetched on demand, decompressed, so the reads right after a fetch (the rest of a file, the
/// kernel's readahead) do not wait for the frame to reach the disk cache. Least recently used goes first.
/// </summary>
internal sealed class MemoryFrames
{
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly Dictionary<int, LinkedListNode<DecodedFrame>> _byFrame = [];
    private readonly LinkedList<DecodedFrame> _order = new();

    public MemoryFrames(int capacity)
    {
        _capacity = capacity;
    }

    /// <summary>A reference to frame <paramref name="frame"/> (release it when done), or null.</summary>
    public DecodedFrame? TryAcquire(int frame)
    {
        lock (_lock)
        {
            if (!_byFrame.TryGetValue(frame, out var node) || !node.Value.TryAddReference())
            {
                return null;
            }

            _order.Remove(node);
            _order.AddFirst(node);
            return node.Value;
        }
    }

    public bool Contains(int frame)
    {
        lock (_lock)
        {
            return _byFrame.ContainsKey(frame);
        }
    }

    /// <summary>Keeps a reference to <paramref name="decoded"/>, dropping the least recently used frame if full.</summary>
    public void Add(DecodedFrame decoded)
    {
        if (_capacity == 0 || !decoded.TryAddReference())
        {
            return;
        }

        DecodedFrame? evicted = null;
        DecodedFrame? replaced = null;
        lock (_lock)
        {
            if (_byFrame.Remove(decoded.Frame, out var existing))
            {
                _order.Remove(existing);
                replaced = existing.Value;
            }

            _byFrame[decoded.Frame] = _order.AddFirst(decoded);
            if (_order.Count > _capacity)
            {
                var last = _order.Last!;
                _order.RemoveLast();
                _byFrame.Remove(last.Value.Frame);
                evicted = last.Value;
            }
        }

        replaced?.Release();
        evicted?.Release();
    }

    /// <summary>Drops every frame (at unmount).</summary>
    public void Clear()
    {
        List<DecodedFrame> frames;
        lock (_lock)
        {
            frames = [.. _order];
            _order.Clear();
            _byFrame.Clear();
        }

        foreach (var frame in frames)
        {
            frame.Release();
        }
    }
}
