using System.Buffers;
using System.Buffers.Binary;

namespace Cairn.Format;

/// <summary>Appends little-endian fields to a growable buffer: the writing side of <see cref="BinaryCursor"/>.</summary>
internal sealed class BinaryBuilder
{
    private readonly ArrayBufferWriter<byte> _buffer;

    public BinaryBuilder(int initialCapacity = 256)
    {
        _buffer = new ArrayBufferWriter<byte>(Math.Max(16, initialCapacity));
    }

    public int Length => _buffer.WrittenCount;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.WrittenSpan;

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.WrittenMemory;

    public void Write(ReadOnlySpan<byte> bytes) => _buffer.Write(bytes);

    public void WriteByte(byte value) => _buffer.Write([value]);

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    public void WriteInt64(long value) => WriteUInt64((ulong)value);

    public void WriteContentId(ContentId id)
    {
        id.WriteTo(_buffer.GetSpan(ContentId.Size));
        _buffer.Advance(ContentId.Size);
    }

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
}
