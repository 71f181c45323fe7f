using System.Buffers.Binary;
using System.Text;

namespace Autograd.Nn;

/// <summary>
/// The protobuf wire format, as much of it as an ONNX model needs: varints (wire type 0), fixed 32-bit floats
/// (type 5) and length-delimited strings, bytes, packed integers and nested messages (type 2). A nested message is
/// written to its own writer first, so its length is known when the parent writes the prefix.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _buffer = new();

    public byte[] ToArray() => _buffer.ToArray();

    public ProtoWriter Int64(int field, long value)
    {
        Tag(field, 0);
        Varint(unchecked((ulong)value));   // a negative int64 is its two's complement: ten bytes
        return this;
    }

    public ProtoWriter Float(int field, float value)
    {
        Tag(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        _buffer.Write(bytes);
        return this;
    }

    public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        Varint((ulong)value.Length);
        _buffer.Write(value);
        return this;
    }

    /// <summary>A repeated int64 field, packed (one length-delimited run of varints), as proto3 writes it.</summary>
    public ProtoWriter PackedInt64(int field, IEnumerable<long> values)
    {
        var run = new ProtoWriter();
        foreach (var v in values)
        {
            run.Varint(unchecked((ulong)v));
        }

        return Bytes(field, run._buffer.GetBuffer().AsSpan(0, (int)run._buffer.Length));
    }

    public ProtoWriter Message(int field, Action<ProtoWriter> write)
    {
        var inner = new ProtoWriter();
        write(inner);
        return Bytes(field, inner._buffer.GetBuffer().AsSpan(0, (int)inner._buffer.Length));
    }

    private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    private void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        _buffer.WriteByte((byte)value);
    }
}
