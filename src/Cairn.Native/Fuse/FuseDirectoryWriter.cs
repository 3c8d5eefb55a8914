namespace Cairn.Native.Fuse;

/// <summary>
/// Packs directory entries into the kernel's readdir / readdirplus reply buffer with fuse_add_direntry(_plus).
/// Lives on the stack for the duration of one <see cref="IFuseFileSystem.ReadDirectory"/> call.
/// </summary>
public unsafe ref struct FuseDirectoryWriter
{
    /// <summary>Longest name the kernel accepts in a directory listing (NAME_MAX).</summary>
    public const int MaxNameLength = 255;

    private readonly nint _request;
    private readonly byte* _buffer;
    private readonly int _capacity;
    private int _used;

    internal FuseDirectoryWriter(nint request, byte* buffer, int capacity, bool plus)
    {
        _request = request;
        _buffer = buffer;
        _capacity = capacity;
        IsPlus = plus;
    }

    /// <summary>
    /// True for readdirplus: the full <see cref="FuseEntry"/> (attributes and timeouts) is sent and counts as a lookup.
    /// False for plain readdir: only the inode number and the type bits of the mode are used.
    /// </summary>
    public bool IsPlus { get; }

    /// <summary>Number of entries added so far.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes of the reply buffer used so far.</summary>
    public readonly int BytesWritten => _used;

    /// <summary>
    /// Adds one entry. <paramref name="nextOffset"/> is the cookie the kernel passes back to continue
    /// <em>after</em> this entry; it must be positive (0 means "from the start").
    /// Returns false, without adding anything, when the entry does not fit: stop and return 0.
    /// </summary>
    public bool TryAdd(ReadOnlySpan<byte> name, in FuseEntry entry, long nextOffset)
    {
        if (name.IsEmpty || name.Length > MaxNameLength)
        {
            throw new ArgumentException($"A directory entry name must be 1 to {MaxNameLength} bytes long.", nameof(name));
        }

        if (name.IndexOfAny((byte)0, (byte)'/') >= 0)
        {
            throw new ArgumentException("A directory entry name cannot contain '/' or NUL.", nameof(name));
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(nextOffset);

        byte* cName = stackalloc byte[MaxNameLength + 1];
        name.CopyTo(new Span<byte>(cName, MaxNameLength));
        cName[name.Length] = 0;

        nuint remaining = (nuint)(_capacity - _used);
        nuint needed;
        if (IsPlus)
        {
            FuseEntryParam param;
            FuseConvert.ToEntryParam(entry, &param);
            needed = FuseNative.fuse_add_direntry_plus(_request, _buffer + _used, remaining, cName, &param, nextOffset);
        }
        else
        {
            NativeStat stat = default;
            stat.Ino = entry.Attr.Inode;
            stat.Mode = entry.Attr.Mode;
            needed = FuseNative.fuse_add_direntry(_request, _buffer + _used, remaining, cName, &stat, nextOffset);
        }

        if (needed > remaining)
        {
            return false;
        }

        _used += (int)needed;
        Count++;
        return true;
    }
}

internal static unsafe class FuseConvert
{
    private const long NanosecondsPerSecond = 1_000_000_000;

    internal static void ToStat(in FuseAttr attr, NativeStat* stat)
    {
        *stat = default;
        stat->Ino = attr.Inode;
        stat->Mode = attr.Mode;
        stat->NLink = attr.LinkCount;
        stat->Uid = attr.Uid;
        stat->Gid = attr.Gid;
        stat->RDev = attr.RDevice;
        stat->Size = attr.Size;
        stat->Blocks = attr.Blocks;
        (stat->ATimeSec, stat->ATimeNsec) = Split(attr.ATimeNs);
        (stat->MTimeSec, stat->MTimeNsec) = Split(attr.MTimeNs);
        (stat->CTimeSec, stat->CTimeNsec) = Split(attr.CTimeNs);
    }

    internal static void ToEntryParam(in FuseEntry entry, FuseEntryParam* param)
    {
        param->Ino = entry.Attr.Inode;
        param->Generation = entry.Generation;
        ToStat(entry.Attr, &param->Attr);
        param->AttrTimeout = Timeout(entry.AttrTimeoutSeconds);
        param->EntryTimeout = Timeout(entry.EntryTimeoutSeconds);
    }

    internal static double Timeout(double seconds) => double.IsFinite(seconds) && seconds > 0 ? seconds : 0;

    // Floor division, so times before 1970 get a non-negative nanosecond part as the kernel expects.
    private static (long Seconds, long Nanoseconds) Split(long totalNanoseconds)
    {
        long seconds = Math.DivRem(totalNanoseconds, NanosecondsPerSecond, out long nanoseconds);
        if (nanoseconds < 0)
        {
            seconds--;
            nanoseconds += NanosecondsPerSecond;
        }

        return (seconds, nanoseconds);
    }
}
