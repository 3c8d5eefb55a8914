using System.Buffers.Binary;

namespace Cairn.Format;

/// <summary>
/// Reads little-endian fields from untrusted bytes. Every read is bounds-checked and fails with
/// <see cref="CorruptDataException"/> naming <see cref="What"/>, so a truncated or hostile object is a clear error.
/// </summary>
internal ref struct BinaryCursor
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public BinaryCursor(ReadOnlySpan<byte> data, string what)
    {
        _data = data;
        What = what;
    }

    public string What { get; }

    public readonly int Position => _position;

    public readonly int Remaining => _data.Length - _position;

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (count < 0 || count > Remaining)
        {
            throw new CorruptDataException($"{What} is truncated or corrupt (needs {count} bytes at offset {_position}, has {Remaining})");
        }

        var span = _data.Slice(_position, count);
        _position += count;
        return span;
    }

    public byte ReadByte() => ReadBytes(1)[0];

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4));

    public int ReadInt32Checked(int max)
    {
        var value = ReadUInt32();
        if (value > (uint)max)
        {
            throw new CorruptDataException($"{What} is corrupt (count {value} exceeds {max})");
        }

        return (int)value;
    }

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8));

    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8));

    public ContentId ReadContentId() => new(ReadBytes(ContentId.Size));

    public readonly void ExpectEnd()
    {
        if (Remaining != 0)
        {
            throw new CorruptDataException($"{What} is corrupt ({Remaining} unexpected trailing bytes)");
        }
    }
}
