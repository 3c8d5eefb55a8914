using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Cairn.Native.Hashing;

namespace Cairn.Format;

/// <summary>
/// A SHA-256 digest: the name of a chunk (hash of its plaintext), a pack, a tree or a snapshot record.
/// Held as four machine words so equality and hashing cost a few instructions in the dedup index.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct ContentId : IEquatable<ContentId>, IComparable<ContentId>
{
    public const int Size = 32;

    /// <summary>The bytes of an id that pack indexes store (format version 2): see <see cref="IndexKey"/>.</summary>
    public const int IndexKeySize = 24;

    private readonly ulong _a;
    private readonly ulong _b;
    private readonly ulong _c;
    private readonly ulong _d;

    public ContentId(ReadOnlySpan<byte> digest)
    {
        if (digest.Length != Size)
        {
            throw new ArgumentException($"a content id is {Size} bytes", nameof(digest));
        }

        // Little-endian words make the struct's memory the digest bytes themselves (Cairn runs on little-endian
        // machines only), so fixed-size records holding ids can be read straight from an object's bytes.
        _a = BinaryPrimitives.ReadUInt64LittleEndian(digest);
        _b = BinaryPrimitives.ReadUInt64LittleEndian(digest[8..]);
        _c = BinaryPrimitives.ReadUInt64LittleEndian(digest[16..]);
        _d = BinaryPrimitives.ReadUInt64LittleEndian(digest[24..]);
    }

    private ContentId(ulong a, ulong b, ulong c, ulong d)
    {
        _a = a;
        _b = b;
        _c = c;
        _d = d;
    }

    /// <summary>
    /// The id cut to its first 24 bytes (the rest zero): what a pack index of format version 2 stores, and what the
    /// chunk index is keyed by. It locates a chunk; it does not vouch for it. A reader checks a chunk's bytes against
    /// the full id its manifest holds, and two chunks that share 192 bits of SHA-256 cannot be found (2^96 work).
    /// </summary>
    public ContentId IndexKey => new(_a, _b, _c, 0);

    /// <summary>An <see cref="IndexKey"/> read back from its <see cref="IndexKeySize"/> bytes.</summary>
    public static ContentId FromIndexKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != IndexKeySize)
        {
            throw new ArgumentException($"an index key is {IndexKeySize} bytes", nameof(key));
        }

        return new ContentId(BinaryPrimitives.ReadUInt64LittleEndian(key), BinaryPrimitives.ReadUInt64LittleEndian(key[8..]), BinaryPrimitives.ReadUInt64LittleEndian(key[16..]), 0);
    }

    /// <summary>The SHA-256 of <paramref name="data"/>.</summary>
    public static ContentId Hash(ReadOnlySpan<byte> data)
    {
        Span<byte> digest = stackalloc byte[Size];
        Sha256.HashData(data, digest);
        return new ContentId(digest);
    }

    /// <summary>
    /// The SHA-256 of each message (a slice of <paramref name="source"/>), into <paramref name="ids"/> in the same order:
    /// blocks and chunks hashed as a batch, sixteen at a time where the CPU can (<see cref="Sha256.HashMany"/>).
    /// </summary>
    public static void HashMany(ReadOnlySpan<byte> source, ReadOnlySpan<MessageRange> messages, Span<ContentId> ids)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ids.Length, messages.Length, nameof(ids));
        Sha256.HashMany(source, messages, MemoryMarshal.AsBytes(ids)); // an id's memory is its digest (see the constructor)
    }

    public static ContentId Parse(string hex)
    {
        if (!TryParse(hex, out var id))
        {
            throw new FormatException($"'{hex}' is not a 64-digit hexadecimal id");
        }

        return id;
    }

    public static bool TryParse(ReadOnlySpan<char> hex, out ContentId id)
    {
        Span<byte> digest = stackalloc byte[Size];
        if (hex.Length != Size * 2 || Convert.FromHexString(hex, digest, out _, out var written) != System.Buffers.OperationStatus.Done || written != Size)
        {
            id = default;
            return false;
        }

        id = new ContentId(digest);
        return true;
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, _a);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], _d);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        WriteTo(bytes);
        return bytes;
    }

    public override string ToString()
    {
        Span<byte> digest = stackalloc byte[Size];
        WriteTo(digest);
        return Convert.ToHexStringLower(digest);
    }

    /// <summary>The first <paramref name="digits"/> hex digits, for display.</summary>
    public string ToShortString(int digits = 12) => ToString()[..digits];

    public bool Equals(ContentId other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    public override bool Equals(object? obj) => obj is ContentId other && Equals(other);

    // The digest is uniformly distributed: any word of it is a good hash code, but not the last, which an index key
    // leaves zero.
    public override int GetHashCode() => (int)_a;

    /// <summary>Orders as a byte-wise comparison of the digests.</summary>
    public int CompareTo(ContentId other)
    {
        var c = Swap(_a).CompareTo(Swap(other._a));
        if (c != 0)
        {
            return c;
        }

        c = Swap(_b).CompareTo(Swap(other._b));
        if (c != 0)
        {
            return c;
        }

        c = Swap(_c).CompareTo(Swap(other._c));
        return c != 0 ? c : Swap(_d).CompareTo(Swap(other._d));

        static ulong Swap(ulong word) => BinaryPrimitives.ReverseEndianness(word);
    }

    public static bool operator ==(ContentId left, ContentId right) => left.Equals(right);

    public static bool operator !=(ContentId left, ContentId right) => !left.Equals(right);

    public static bool operator <(ContentId left, ContentId right) => left.CompareTo(right) < 0;

    public static bool operator >(ContentId left, ContentId right) => left.CompareTo(right) > 0;

    public static bool operator <=(ContentId left, ContentId right) => left.CompareTo(right) <= 0;

    public static bool operator >=(ContentId left, ContentId right) => left.CompareTo(right) >= 0;
}
