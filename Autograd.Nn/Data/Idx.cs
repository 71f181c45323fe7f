using System.Buffers.Binary;
using System.IO.Compression;

namespace Autograd.Data;

/// <summary>An IDX array of unsigned bytes: its dimensions and its elements, row-major, in one array.</summary>
public sealed record IdxArray(int[] Shape, byte[] Data)
{
    /// <summary>Number of items (the first dimension).</summary>
    public int Count => Shape[0];
}

/// <summary>
/// Reads the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a big-endian
/// header (two zero bytes, a type code, the number of dimensions, then each dimension as a 32-bit
/// integer) and the elements, row-major. Files may be gzip-compressed (detected by their magic bytes,
/// whatever the name). Only unsigned bytes (type 0x08) are supported, which is what both data sets use.
/// </summary>
public static class Idx
{
    private static readonly Dictionary<byte, string> s_types = new()
    {
        [0x08] = "unsigned byte", [0x09] = "signed byte", [0x0B] = "int16", [0x0C] = "int32", [0x0D] = "float32", [0x0E] = "float64",
    };

    /// <summary>Reads a whole IDX file; every problem throws <see cref="InvalidDataException"/> naming the file.</summary>
    public static IdxArray Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            bytes = ReadAllBytes(path);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"IDX file '{path}': the gzip stream is corrupt or truncated ({ex.Message})", ex);
        }
        catch (EndOfStreamException ex)
        {
            throw new InvalidDataException($"IDX file '{path}': the gzip stream is truncated ({ex.Message})", ex);
        }

        return Parse(path, bytes);
    }

    /// <summary>Parses IDX bytes (already decompressed); <paramref name="path"/> names the source in errors.</summary>
    public static IdxArray Parse(string path, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 4)
        {
            throw Error(path, $"the file is truncated: {bytes.Length} bytes, fewer than the 4-byte magic number");
        }

        if (bytes[0] != 0 || bytes[1] != 0)
        {
            throw Error(path, $"bad magic number 0x{BinaryPrimitives.ReadUInt32BigEndian(bytes):X8}: an IDX file starts with two zero bytes");
        }

        var type = bytes[2];
        if (type != 0x08)
        {
            var name = s_types.TryGetValue(type, out var n) ? n : "an unknown type";
            throw Error(path, $"element type 0x{type:X2} ({name}) is not supported; only unsigned bytes (0x08)");
        }

        int rank = bytes[3];
        if (rank == 0)
        {
            throw Error(path, "the header declares zero dimensions");
        }

        var headerLength = 4 + 4 * rank;
        if (bytes.Length < headerLength)
        {
            throw Error(path, $"the file is truncated: {bytes.Length} bytes, fewer than the {headerLength}-byte header of {rank} dimensions");
        }

        var shape = new int[rank];
        long count = 1;
        for (var i = 0; i < rank; i++)
        {
            var d = BinaryPrimitives.ReadInt32BigEndian(bytes.Slice(4 + 4 * i));
            if (d < 0)
            {
                throw Error(path, $"dimension {i} is negative ({d})");
            }

            shape[i] = d;
            count *= d;
            if (count > Array.MaxLength)
            {
                throw Error(path, $"dimensions [{string.Join(", ", shape.Take(i + 1))}] describe more than {Array.MaxLength} elements");
            }
        }

        var data = bytes[headerLength..];
        if (data.Length != count)
        {
            var what = data.Length < count ? "the file is truncated" : "the file has trailing bytes";
            throw Error(path, $"{what}: dimensions [{string.Join(", ", shape)}] need {count} bytes of data but {data.Length} follow the header");
        }

        return new IdxArray(shape, data.ToArray());
    }

    private static byte[] ReadAllBytes(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[2];
        var read = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        if (read == 2 && magic[0] == 0x1F && magic[1] == 0x8B)
        {
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var output = new MemoryStream();
            gzip.CopyTo(output);
            return output.ToArray();
        }

        return File.ReadAllBytes(path);
    }

    private static InvalidDataException Error(string path, string message) => new($"IDX file '{path}': {message}.");
}
