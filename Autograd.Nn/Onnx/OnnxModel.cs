namespace Autograd.Nn;

/// <summary>
/// An ONNX graph being built (nodes, initialisers, one input, one output) and its serialisation as a ModelProto.
/// Field numbers are those of onnx/onnx.proto3 (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
/// ValueInfoProto, TypeProto.Tensor, TensorShapeProto); the model declares IR version 8 and opset 17.
/// </summary>
internal sealed class OnnxModel
{
    public const int Opset = 17;
    public const long IrVersion = 8;

    /// <summary>TensorProto.DataType: FLOAT, INT64, DOUBLE.</summary>
    public const int Float = 1, Int64 = 7, Double = 11;

    private readonly List<Action<ProtoWriter>> _nodes = [];
    private readonly List<Action<ProtoWriter>> _initializers = [];
    private readonly HashSet<string> _names = [];
    private int _nodeCount;

    /// <summary>A fresh value name starting with <paramref name="stem"/>.</summary>
    public string Fresh(string stem)
    {
        var name = stem;
        for (var i = 1; !_names.Add(name); i++)
        {
            name = $"{stem}_{i}";
        }

        return name;
    }

    /// <summary>Reserves <paramref name="name"/> (an input, a parameter's dotted name).</summary>
    public string Reserve(string name) => _names.Add(name) ? name : Fresh(name);

    /// <summary>Adds a node; returns its output's name.</summary>
    public string Node(string opType, string[] inputs, params (string Name, object Value)[] attributes) =>
        AddNode(opType, inputs, Fresh($"{opType.ToLowerInvariant()}_{_nodeCount}"), attributes);

    /// <summary>The graph output <paramref name="name"/>: <paramref name="value"/> through an Identity node.</summary>
    public string Output(string value, string name) => AddNode("Identity", [value], Reserve(name), []);

    private string AddNode(string opType, string[] inputs, string output, (string Name, object Value)[] attributes)
    {
        var nodeName = $"{opType}_{_nodeCount++}";
        _nodes.Add(w =>
        {
            foreach (var input in inputs)
            {
                w.String(1, input);
            }

            w.String(2, output).String(3, nodeName).String(4, opType);
            foreach (var (name, value) in attributes)
            {
                w.Message(5, a => Attribute(a, name, value));
            }
        });
        return output;
    }

    /// <summary>Adds an initialiser of <paramref name="dataType"/> with little-endian <paramref name="raw"/> bytes.</summary>
    public string Initializer(string name, int dataType, long[] dims, byte[] raw)
    {
        _initializers.Add(w => w.PackedInt64(1, dims).Int64(2, dataType).String(8, name).Bytes(9, raw));
        return name;
    }

    public string Int64Constant(string stem, params long[] values) =>
        Initializer(Fresh(stem), Int64, [values.Length], values.SelectMany(BitConverter.GetBytes).ToArray());

    /// <summary>The model file: input and output value infos (dimension 0 named "batch" where flagged).</summary>
    public byte[] Serialize(ValueDeclaration input, ValueDeclaration output, string graphName)
    {
        var model = new ProtoWriter();
        model.Int64(1, IrVersion)
            .String(2, "Autograd.Nn")
            .String(3, typeof(OnnxModel).Assembly.GetName().Version?.ToString() ?? "0")
            .Message(7, g =>
            {
                foreach (var node in _nodes)
                {
                    g.Message(1, node);
                }

                g.String(2, graphName);
                foreach (var init in _initializers)
                {
                    g.Message(5, init);
                }

                g.Message(11, v => ValueInfo(v, input));
                g.Message(12, v => ValueInfo(v, output));
            })
            .Message(8, o => o.String(1, "").Int64(2, Opset));
        return model.ToArray();
    }

    private static void ValueInfo(ProtoWriter w, ValueDeclaration value) =>
        w.String(1, value.Name).Message(2, type => type.Message(1, tensor => tensor
            .Int64(1, value.DataType)
            .Message(2, shape =>
            {
                for (var i = 0; i < value.Shape.Length; i++)
                {
                    var dim = i;
                    shape.Message(1, d =>
                    {
                        if (dim == 0 && value.BatchDim)
                        {
                            d.String(2, "batch");
                        }
                        else
                        {
                            d.Int64(1, value.Shape[dim]);
                        }
                    });
                }
            })));

    // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7).
    private static void Attribute(ProtoWriter w, string name, object value)
    {
        w.String(1, name);
        switch (value)
        {
            case float f:
                w.Float(2, f).Int64(20, 1);
                break;
            case long or int:
                w.Int64(3, Convert.ToInt64(value)).Int64(20, 2);
                break;
            case string s:
                w.String(4, s).Int64(20, 3);
                break;
            case int[] ints:
                w.PackedInt64(8, ints.Select(v => (long)v)).Int64(20, 7);
                break;
            default:
                throw new InvalidOperationException($"ONNX export: attribute '{name}' of type {value.GetType().Name} has no AttributeProto form.");
        }
    }
}

/// <summary>A graph input or output: its name, element type and shape, and whether dimension 0 is the symbolic batch.</summary>
internal readonly record struct ValueDeclaration(string Name, int DataType, int[] Shape, bool BatchDim);
