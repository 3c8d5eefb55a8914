using System.Buffers;
using Cairn.Native.Hashing;

namespace Cairn.Format;

/// <summary>
/// Room from the shared array pool for a batch of messages and their ids, hashed together
/// (<see cref="ContentId.HashMany"/>): a restore checks a frame's chunks with one, a snapshot names a segment's blocks.
/// Disposing it gives the room back.
/// </summary>
internal readonly struct IdBatch : IDisposable
{
    private readonly MessageRange[] _ranges;
    private readonly ContentId[] _ids;

    public IdBatch(int count)
    {
        Count = count;
        _ranges = ArrayPool<MessageRange>.Shared.Rent(count);
        _ids = ArrayPool<ContentId>.Shared.Rent(count);
    }

    public int Count { get; }

    /// <summary>Where each message lies in the source given to <see cref="Hash"/>; the caller fills them in.</summary>
    public Span<MessageRange> Ranges => _ranges.AsSpan(0, Count);

    /// <summary>The id of each message of <paramref name="source"/>, in the order of <see cref="Ranges"/>.</summary>
    public ReadOnlySpan<ContentId> Hash(ReadOnlySpan<byte> source)
    {
        ContentId.HashMany(source, Ranges, _ids);
        return _ids.AsSpan(0, Count);
    }

    public void Dispose()
    {
        ArrayPool<MessageRange>.Shared.Return(_ranges);
        ArrayPool<ContentId>.Shared.Return(_ids);
    }
}
