using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Autograd.Nn;

/// <summary>
/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors), which
/// PyTorch and Hugging Face use for weights: an 8-byte little-endian header length N, N bytes of
/// JSON header (<c>{"name": {"dtype": "F32", "shape": [120, 400], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {"key": "value"}}</c>), then the byte buffer the offsets index, every tensor
/// row-major and little-endian. F32 and F64 are supported, in either direction (a float model loads
/// an F64 file and the other way round).
/// </summary>
/// <remarks>
/// Loading validates the whole header before reading any data, as the reference implementation
/// does: the header length is capped, the JSON must be an object of well-formed entries, dtypes
/// must be known, each entry's byte range must equal its element count times the dtype size, and
/// the ranges must tile the buffer exactly (no overlap, no hole, nothing past the end). Every error
/// names the file and the tensor, and throws <see cref="InvalidDataException"/>; a load that throws
/// returns nothing, so nothing is ever half-loaded.
/// </remarks>
public static class SafeTensors
{
    /// <summary>Largest header accepted (the reference implementation's limit, 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    // Element sizes of the format's dtypes; only F32 and F64 convert to tensors here.
    private static readonly Dictionary<string, int> s_dtypeSizes = new()
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    /// <summary>
    /// Writes <paramref name="tensors"/> (a state dict) to <paramref name="path"/> in their order, as
    /// F32 for float and F64 for double, with optional string metadata. An existing file is replaced.
    /// </summary>
    public static void Save<T>(string path, IEnumerable<KeyValuePair<string, Tensor<T>>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var dtype = typeof(T) == typeof(float) ? "F32" : "F64";
        var size = typeof(T) == typeof(float) ? 4 : 8;
        var entries = new List<(string Name, T[] Data, int[] Shape)>();
        var names = new HashSet<string>();
        foreach (var (name, tensor) in tensors)
        {
            if (string.IsNullOrEmpty(name) || name == MetadataKey || !names.Add(name))
            {
                throw new ArgumentException($"SafeTensors.Save '{path}': tensor name '{name}' is empty, reserved or repeated.", nameof(tensors));
            }

            ArgumentNullException.ThrowIfNull(tensor, name);
            entries.Add((name, tensor.ToArray(), tensor.Shape));
        }

        using var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var (name, data, shape) in entries)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype);
                json.WriteStartArray("shape");
                foreach (var d in shape)
                {
                    json.WriteNumberValue(d);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += (long)data.Length * size;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        // Pad the header with spaces to a multiple of 8 so that the data is aligned, as the reference writer does.
        while (header.Length % 8 != 0)
        {
            header.WriteByte((byte)' ');
        }

        // FileMode.Create truncates an older, longer file instead of leaving its tail behind.
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        file.Write(length);
        header.Position = 0;
        header.CopyTo(file);
        foreach (var (_, data, _) in entries)
        {
            if (BitConverter.IsLittleEndian)
            {
                file.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            }
            else
            {
                var bytes = new byte[data.Length * size];
                for (var i = 0; i < data.Length; i++)
                {
                    WriteLittleEndian(bytes.AsSpan(i * size, size), data[i]);
                }

                file.Write(bytes);
            }
        }
    }

    /// <summary>Reads every tensor of a safetensors file, converted to <typeparamref name="T"/>, in the header's order.</summary>
    public static OrderedDictionary<string, Tensor<T>> Load<T>(string path)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Read<T>(path).Tensors;

    /// <summary>The string metadata of a safetensors file (empty when it has none).</summary>
    public static IReadOnlyDictionary<string, string> LoadMetadata(string path) => Read<float>(path, headerOnly: true).Metadata;

    private sealed record Entry(string Name, string Dtype, int[] Shape, long Begin, long End);

    private static (OrderedDictionary<string, Tensor<T>> Tensors, Dictionary<string, string> Metadata) Read<T>(string path, bool headerOnly = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        var fileLength = file.Length;
        if (fileLength < 8)
        {
            throw Error(path, $"the file is truncated: {fileLength} bytes, fewer than the 8-byte header length");
        }

        Span<byte> lengthBytes = stackalloc byte[8];
        file.ReadExactly(lengthBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes)
        {
            throw Error(path, $"the header length {headerLength} exceeds the limit of {MaxHeaderBytes} bytes");
        }

        if ((long)headerLength > fileLength - 8)
        {
            throw Error(path, $"the file is truncated: the header length is {headerLength} bytes but only {fileLength - 8} follow");
        }

        var headerBytes = new byte[headerLength];
        file.ReadExactly(headerBytes);
        var (entries, metadata) = ParseHeader(path, headerBytes);
        var bufferLength = fileLength - 8 - (long)headerLength;
        CheckOffsets(path, entries, bufferLength);
        var tensors = new OrderedDictionary<string, Tensor<T>>();
        if (headerOnly)
        {
            return (tensors, metadata);
        }

        foreach (var e in entries)
        {
            var count = (int)((e.End - e.Begin) / s_dtypeSizes[e.Dtype]);
            file.Position = 8 + (long)headerLength + e.Begin;
            var bytes = new byte[e.End - e.Begin];
            file.ReadExactly(bytes);
            var data = new T[count];
            if (e.Dtype == "F32")
            {
                Convert(MemoryMarshal.Cast<byte, float>(bytes), bytes, data);
            }
            else
            {
                Convert(MemoryMarshal.Cast<byte, double>(bytes), bytes, data);
            }

            tensors.Add(e.Name, TensorMemory.Wrap(data, e.Shape));
        }

        return (tensors, metadata);
    }

    private static (List<Entry> Entries, Dictionary<string, string> Metadata) ParseHeader(string path, byte[] header)
    {
        if (header.Length == 0 || header[0] != (byte)'{')
        {
            throw Error(path, "the header does not start with '{' (not a safetensors file, or a corrupt header)");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header);
        }
        catch (JsonException ex)
        {
            throw Error(path, $"the header is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            var entries = new List<Entry>();
            var metadata = new Dictionary<string, string>();
            var names = new HashSet<string>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var name = property.Name;
                if (!names.Add(name))
                {
                    throw Error(path, $"tensor '{name}' appears twice in the header");
                }

                if (name == MetadataKey)
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw Error(path, "__metadata__ must be an object of strings");
                    }

                    foreach (var m in property.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                        {
                            throw Error(path, $"__metadata__ value '{m.Name}' is not a string");
                        }

                        metadata[m.Name] = m.Value.GetString()!;
                    }

                    continue;
                }

                entries.Add(ParseEntry(path, name, property.Value));
            }

            return (entries, metadata);
        }
    }

    private static Entry ParseEntry(string path, string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Error(path, name, "the header entry is not an object with dtype, shape and data_offsets");
        }

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw Error(path, name, "the header entry has no string 'dtype'");
        }

        var dtype = dtypeElement.GetString()!;
        if (!s_dtypeSizes.TryGetValue(dtype, out var size))
        {
            throw Error(path, name, $"unknown dtype '{dtype}'");
        }

        if (dtype is not ("F32" or "F64"))
        {
            throw Error(path, name, $"dtype {dtype} is not supported (only F32 and F64 load into tensors)");
        }

        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw Error(path, name, "the header entry has no 'shape' array");
        }

        var shape = new List<int>();
        long numel = 1;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out var dim) || dim < 0)
            {
                throw Error(path, name, $"shape {shapeElement.GetRawText()} has an entry that is not a non-negative 32-bit integer");
            }

            shape.Add(dim);
            numel *= dim;
            if (numel > Array.MaxLength)
            {
                throw Error(path, name, $"shape {shapeElement.GetRawText()} has more than {Array.MaxLength} elements");
            }
        }

        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || !offsets[0].TryGetInt64(out var begin) || !offsets[1].TryGetInt64(out var end) || begin < 0 || end < begin)
        {
            throw Error(path, name, "'data_offsets' must be two integers [begin, end] with 0 <= begin <= end");
        }

        if (end - begin != numel * size)
        {
            throw Error(path, name, $"shape {ShapeMath.Format(shape.ToArray())} of {dtype} needs {numel * size} bytes but data_offsets [{begin}, {end}] hold {end - begin}");
        }

        return new Entry(name, dtype, [.. shape], begin, end);
    }

    /// <summary>The byte ranges, sorted, must tile [0, bufferLength) exactly.</summary>
    private static void CheckOffsets(string path, List<Entry> entries, long bufferLength)
    {
        long expected = 0;
        Entry? previous = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.End > bufferLength)
            {
                throw Error(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] run past the end of the {bufferLength}-byte data buffer (the file is truncated or the offsets are wrong)");
            }

            if (e.Begin < expected)
            {
                throw Error(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous!.Name}' [{previous.Begin}, {previous.End}]");
            }

            if (e.Begin > expected)
            {
                throw Error(path, e.Name, $"data_offsets [{e.Begin}, {e.End}] leave a hole: bytes [{expected}, {e.Begin}) of the data buffer belong to no tensor");
            }

            expected = e.End;
            previous = e;
        }

        if (expected != bufferLength)
        {
            throw Error(path, $"the data buffer has {bufferLength} bytes but the tensors cover {expected} (trailing bytes belong to no tensor)");
        }
    }

    private static void Convert<TSource, T>(ReadOnlySpan<TSource> source, ReadOnlySpan<byte> bytes, Span<T> destination)
        where TSource : unmanaged, IFloatingPointIeee754<TSource>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!BitConverter.IsLittleEndian)
        {
            var size = bytes.Length / Math.Max(destination.Length, 1);
            for (var i = 0; i < destination.Length; i++)
            {
                var slice = bytes.Slice(i * size, size);
                destination[i] = size == 4
                    ? T.CreateChecked(BinaryPrimitives.ReadSingleLittleEndian(slice))
                    : T.CreateChecked(BinaryPrimitives.ReadDoubleLittleEndian(slice));
            }

            return;
        }

        if (typeof(TSource) == typeof(T))
        {
            MemoryMarshal.Cast<TSource, T>(source).CopyTo(destination);
            return;
        }

        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = T.CreateTruncating(source[i]);
        }
    }

    private static void WriteLittleEndian<T>(Span<byte> destination, T value)
        where T : unmanaged
    {
        if (value is float f)
        {
            BinaryPrimitives.WriteSingleLittleEndian(destination, f);
        }
        else if (value is double d)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(destination, d);
        }
    }

    private static InvalidDataException Error(string path, string message) =>
        new($"safetensors file '{path}': {message}.");

    private static InvalidDataException Error(string path, string tensor, string message) =>
        new($"safetensors file '{path}', tensor '{tensor}': {message}.");
}

/// <summary>Saving and loading a module's state dict as safetensors.</summary>
public static class ModuleSafeTensorsExtensions
{
    extension<T>(Module<T> module)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Writes <see cref="Module{T}.StateDict"/> to <paramref name="path"/> (safetensors).</summary>
        public void SaveSafeTensors(string path, IReadOnlyDictionary<string, string>? metadata = null) =>
            SafeTensors.Save(path, module.StateDict(), metadata);

        /// <summary>
        /// Loads a safetensors file into the module in place. The file is read and validated whole and
        /// the state dict checked whole (missing, unexpected and mis-shaped entries, naming the file)
        /// before anything is copied: on any error the module is unchanged.
        /// </summary>
        public LoadResult LoadSafeTensors(string path, bool strict = true) =>
            module.LoadStateDict(SafeTensors.Load<T>(path), strict, $"safetensors file '{path}'");
    }
}
