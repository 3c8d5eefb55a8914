using Cairn.Native.Linux;
namespace Cairn.Native.Fuse;

/// <summary>
/// The pending answer to one FUSE read request. Complete it exactly once, from any thread, with
/// <see cref="Data(ReadOnlySpan{byte})"/> or <see cref="Error"/>. This is a small handle onto a pooled slot
/// (no allocation per request); a handle used again after its request was answered throws instead of
/// answering some later request that reuses the slot.
/// </summary>
public readonly unsafe struct FuseReadReply
{
    private readonly ReadReplySlot? _slot;
    private readonly long _version;

    internal FuseReadReply(ReadReplySlot slot, long version)
    {
        _slot = slot;
        _version = version;
    }

    /// <summary>Bytes the kernel asked for; a reply may be shorter (end of file) but not longer.</summary>
    public int RequestedSize => Slot.Size;

    /// <summary>
    /// Sends <paramref name="data"/> (fuse_reply_buf copies it into the kernel before returning).
    /// Returns false if the layer had already failed the request (the mount is shutting down).
    /// Throws <see cref="InvalidOperationException"/> if this reply was already completed, and
    /// <see cref="ArgumentOutOfRangeException"/> (after failing the request with EIO) if <paramref name="data"/>
    /// is longer than <see cref="RequestedSize"/>.
    /// </summary>
    public bool Data(ReadOnlySpan<byte> data) => Data(data, default);

    /// <summary>Sends the concatenation of two buffers (for example the tail of one chunk and the head of the next) without copying them together first (fuse_reply_iov).</summary>
    public bool Data(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        ReadReplySlot slot = Slot;
        ReadReplyPool pool = slot.Pool;
        bool tooLong = false;
        pool.EnterReply();
        try
        {
            if (!ReadReplyPool.TryClaim(slot, _version, byLayer: false))
            {
                return false;
            }

            nint request = slot.Request;
            tooLong = (long)first.Length + second.Length > slot.Size;
            if (tooLong)
            {
                _ = FuseNative.fuse_reply_err(request, Errno.EIO);
            }
            else if (second.IsEmpty)
            {
                fixed (byte* p = first)
                {
                    _ = FuseNative.fuse_reply_buf(request, p, (nuint)first.Length);
                }
            }
            else
            {
                fixed (byte* p1 = first)
                fixed (byte* p2 = second)
                {
                    IoVec* iov = stackalloc IoVec[2];
                    iov[0].Base = p1;
                    iov[0].Length = (nuint)first.Length;
                    iov[1].Base = p2;
                    iov[1].Length = (nuint)second.Length;
                    _ = FuseNative.fuse_reply_iov(request, iov, 2);
                }
            }

            pool.Return(slot);
        }
        finally
        {
            pool.ExitReply();
        }

        if (tooLong)
        {
            throw new ArgumentOutOfRangeException(nameof(first), "The read reply is longer than the requested size; the request was failed with EIO.");
        }

        return true;
    }

    /// <summary>
    /// Fails the read with <paramref name="errno"/> (positive; values outside 1..999 become EIO).
    /// Returns false if the layer had already failed the request; throws if this reply was already completed.
    /// </summary>
    public bool Error(int errno)
    {
        ReadReplySlot slot = Slot;
        return slot.Pool.TryFail(slot, _version, errno is > 0 and < 1000 ? errno : Errno.EIO, byLayer: false);
    }

    /// <summary>Used by the layer when the handler threw: fails the request unless the handler already answered it.</summary>
    internal void FailFromLayer(int errno)
    {
        if (_slot is { } slot)
        {
            slot.Pool.TryFail(slot, _version, errno, byLayer: true);
        }
    }

    internal bool IsValid => _slot is not null;

    private ReadReplySlot Slot => _slot ?? throw new InvalidOperationException("This FuseReadReply was not created by the FUSE layer.");
}

internal sealed class ReadReplySlot(ReadReplyPool pool)
{
    // Version encoding: 4k+1 = pending, 4k+2 = answered by the handler, 4k+3 = answered by the layer.
    internal long Version;
    internal nint Request;
    internal int Size;
    internal readonly ReadReplyPool Pool = pool;
}

/// <summary>
/// Pool of read reply slots for one session. Guarantees one native reply per request, and that no reply
/// touches the session once <see cref="AbandonPending"/> has returned.
/// </summary>
internal sealed class ReadReplyPool
{
    private readonly Lock _lock = new();
    private readonly Stack<ReadReplySlot> _free = new();
    private readonly List<ReadReplySlot> _all = [];
    private int _repliesInFlight;

    internal FuseReadReply Rent(nint request, int size)
    {
        ReadReplySlot? slot;
        lock (_lock)
        {
            if (!_free.TryPop(out slot))
            {
                slot = new ReadReplySlot(this);
                _all.Add(slot);
            }
        }

        long version = (((slot.Version >> 2) + 1) << 2) | 1;
        slot.Request = request;
        slot.Size = size;
        Volatile.Write(ref slot.Version, version);
        return new FuseReadReply(slot, version);
    }

    internal void Return(ReadReplySlot slot)
    {
        lock (_lock)
        {
            _free.Push(slot);
        }
    }

    internal void EnterReply() => Interlocked.Increment(ref _repliesInFlight);

    internal void ExitReply() => Interlocked.Decrement(ref _repliesInFlight);

    /// <summary>Moves the slot from pending to answered. False if the layer already answered it; throws on a second answer by the handler.</summary>
    internal static bool TryClaim(ReadReplySlot slot, long version, bool byLayer)
    {
        long observed = Interlocked.CompareExchange(ref slot.Version, version + (byLayer ? 2 : 1), version);
        if (observed == version)
        {
            return true;
        }

        if (byLayer || observed == version + 2)
        {
            return false;
        }

        throw new InvalidOperationException("This read request has already been answered.");
    }

    internal bool TryFail(ReadReplySlot slot, long version, int errno, bool byLayer)
    {
        EnterReply();
        try
        {
            if (!TryClaim(slot, version, byLayer))
            {
                return false;
            }

            _ = FuseNative.fuse_reply_err(slot.Request, errno);
            Return(slot);
            return true;
        }
        finally
        {
            ExitReply();
        }
    }

    /// <summary>
    /// Called once the session loop has ended, before the session is unmounted and destroyed: fails every read still
    /// pending with EIO and waits for replies already being sent by other threads. Later replies become no-ops.
    /// </summary>
    internal int AbandonPending()
    {
        ReadReplySlot[] slots;
        lock (_lock)
        {
            slots = [.. _all];
        }

        int abandoned = 0;
        foreach (ReadReplySlot slot in slots)
        {
            long version = Volatile.Read(ref slot.Version);
            if ((version & 3) == 1 && Interlocked.CompareExchange(ref slot.Version, version + 2, version) == version)
            {
                _ = FuseNative.fuse_reply_err(slot.Request, Errno.EIO);
                abandoned++;
            }
        }

        // A handler that won its claim before the sweep may still be inside fuse_reply_*; it counted itself in first.
        SpinWait spin = default;
        while (Volatile.Read(ref _repliesInFlight) != 0)
        {
            spin.SpinOnce();
        }

        return abandoned;
    }
}
