using System.Numerics;
using System.Runtime.InteropServices;

namespace Autograd.Nn;

/// <summary>
/// Turns one traced forward pass into ONNX nodes (docs/onnx.md has the table): walks back from the output through
/// the ops that reported to the <see cref="OpTrace"/>, emitting each value once (a tied weight is one initialiser);
/// a tensor no reported op produced is the graph input, a named parameter or buffer, a constant, or, when the tape
/// recorded it, the output of an op with no ONNX form, which is refused with its name and call site.
/// </summary>
internal sealed class OnnxExporter<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly OnnxModel _model = new();
    private readonly OpTrace _trace;
    private readonly object _input;
    private readonly Dictionary<object, string> _emitted = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<object, string> _named = new(ReferenceEqualityComparer.Instance);
    private readonly int _dataType = typeof(T) == typeof(float) ? OnnxModel.Float : OnnxModel.Double;

    public OnnxExporter(OpTrace trace, object input, string inputName, IEnumerable<(string Name, Tensor<T> Tensor)> named)
    {
        _trace = trace;
        _input = input;
        _emitted[input] = _model.Reserve(inputName);
        foreach (var (name, tensor) in named)
        {
            _named.TryAdd(tensor, name);   // a tied weight keeps its first name, as in a state dict walk
        }
    }

    public OnnxModel Model => _model;

    /// <summary>The name of <paramref name="value"/> in the graph, emitting whatever produces it first.</summary>
    public string Emit(object? value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (_emitted.TryGetValue(value, out var known))
        {
            return known;
        }

        var name = value switch
        {
            Tensor<T> t when _named.TryGetValue(t, out var parameter) => Constant(t, _model.Reserve(parameter)),
            Tensor<T> { GradFn: Node<T> { IsBuiltIn: false } custom } => throw Unsupported(custom.OpName, custom.CallSite, "is a custom op (Function): its forward is opaque to the exporter, so it has no ONNX form"),
            Tensor<T> t when _trace.ProducerOf(t) is { } op => Op(op, t),
            Tensor<T> { GradFn: { } node } => throw Unsupported(node.OpName, node.CallSite, "has no ONNX form in this exporter (docs/onnx.md lists the ops that have one)"),
            Tensor<T> t => Constant(t, _model.Fresh("const")),
            IndexTensor ids => _model.Initializer(_model.Fresh("indices"), OnnxModel.Int64, [.. ids.Shape.Select(d => (long)d)], ids.ToArray().SelectMany(BitConverter.GetBytes).ToArray()),
            double s => Scalar(s),
            _ => throw new NotSupportedException($"ONNX export: a value of type {value.GetType().Name} cannot be a graph value."),
        };
        _emitted[value] = name;
        return name;
    }

    private string Constant(Tensor<T> t, string name)
    {
        var values = t.ToArray();
        return _model.Initializer(name, _dataType, [.. t.Shape.Select(d => (long)d)], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    private string Scalar(double value)
    {
        var v = T.CreateTruncating(value);
        return _model.Initializer(_model.Fresh("scalar"), _dataType, [], MemoryMarshal.AsBytes(new[] { v }.AsSpan()).ToArray());
    }

    private static NotSupportedException Unsupported(string opName, CallSite site, string why) =>
        new($"ONNX export: '{opName}' at {(site.IsKnown ? site.ToString() : "an unknown call site (an operator or a params overload)")} {why}.");

    private string Op(TracedOp op, Tensor<T> output)
    {
        var site = output.GradFn?.CallSite ?? CallSite.Unknown;
        var x = op.Inputs;
        int[] Shape(int i) => ((Tensor<T>)x[i]!).Shape;
        T1 Attr<T1>(string name) => (T1)op.Attributes[name]!;
        string In(int i) => Emit(x[i]);

        switch (op.OpName)
        {
            case "Add" or "Sub" or "Mul" or "Div" when x.Length == 2:
                return _model.Node(op.OpName, [In(0), In(1)]);
            case "Pow" when x.Length == 2:
                return _model.Node("Pow", [In(0), In(1)]);
            case "Relu" or "Tanh" or "Sigmoid" or "Exp" or "Log" or "Sqrt" or "Neg" or "Abs" or "Erf" or "Sign" or "Identity":
                return _model.Node(op.OpName, [In(0)]);
            case "Square":
                return _model.Node("Mul", [In(0), In(0)]);
            case "Rsqrt":
                return _model.Node("Reciprocal", [_model.Node("Sqrt", [In(0)])]);
            case "Gelu":
                return Gelu(In(0), Attr<string>("approximate"));
            case "MatMul":
                return _model.Node("MatMul", [In(0), In(1)]);
            case "Transpose":
                return _model.Node("Transpose", [In(0)], ("perm", Attr<int[]>("perm")));
            case "Reshape":
                return _model.Node("Reshape", [In(0), _model.Int64Constant("shape", ReshapeTarget(Shape(0), output.Shape))]);
            case "Expand":
                return _model.Node("Expand", [In(0), _model.Int64Constant("shape", ExpandTarget(Shape(0), output.Shape))]);
            case "Slice":
            {
                var (dim, start, end, step) = (Attr<int>("dim"), Attr<int>("start"), Attr<int>("end"), Attr<int>("step"));
                long last = dim == 0 && end == Shape(0)[0] ? long.MaxValue : end;   // to the end of a symbolic batch
                return _model.Node("Slice", [In(0), _model.Int64Constant("starts", start), _model.Int64Constant("ends", last), _model.Int64Constant("axes", dim), _model.Int64Constant("steps", step)]);
            }
            case "Select":
                return _model.Node("Gather", [In(0), _model.Initializer(_model.Fresh("index"), OnnxModel.Int64, [], BitConverter.GetBytes((long)Attr<int>("index")))], ("axis", Attr<int>("dim")));
            case "Softmax" or "LogSoftmax":
                return _model.Node(op.OpName, [In(0)], ("axis", Attr<int>("dim")));
            case "Embedding":
                return _model.Node("Gather", [In(0), In(1)], ("axis", 0));
            case "Conv2d":
            {
                string[] inputs = x[2] is null ? [In(0), In(1)] : [In(0), In(1), In(2)];
                var w = Shape(1);
                return _model.Node("Conv", inputs, ("kernel_shape", new[] { w[2], w[3] }), ("strides", Attr<int[]>("strides")),
                    ("dilations", Attr<int[]>("dilations")), ("pads", Attr<int[]>("pads")), ("group", Attr<int>("group")));
            }
            case "MaxPool2d":
                return MaxPool(op, In(0), Shape(0));
            case "LayerNorm":
            {
                var k = Attr<int>("axes");
                var normalized = Shape(0)[^k..];
                var scale = x[1] is null ? Filled(normalized, 1) : In(1);
                string[] inputs = x[2] is null ? [In(0), scale] : [In(0), scale, In(2)];
                return _model.Node("LayerNormalization", inputs, ("axis", -k), ("epsilon", (float)Attr<double>("eps")));
            }
            case "BatchNorm1d" or "BatchNorm2d":
            {
                if (Attr<bool>("training"))
                {
                    throw Unsupported(op.OpName, site, "ran in training mode; export traces an evaluation forward (call Eval(), or use Module.ExportOnnx, which does)");
                }

                int[] c = [Shape(0)[1]];
                return _model.Node("BatchNormalization", [In(0), x[3] is null ? Filled(c, 1) : In(3), x[4] is null ? Filled(c, 0) : In(4), In(1), In(2)],
                    ("epsilon", (float)Attr<double>("eps")));
            }
            case "ScaledDotProductAttention":
                return Attention(op, site);
            default:
                throw Unsupported(op.OpName, site, x.Length == 1 && op.OpName is "Pow" or "Clamp" or "LeakyRelu" or "Softplus"
                    ? "with a scalar parameter has no ONNX form in this exporter yet"
                    : "has no ONNX form in this exporter (docs/onnx.md lists the ops that have one)");
        }
    }

    /// <summary>
    /// Reshape's target: dimension 0 is copied from the input (0) when it is unchanged, else inferred (−1), so a
    /// reshape that keeps or folds the batch follows a batch size other than the sample's; the rest as traced.
    /// </summary>
    private static long[] ReshapeTarget(int[] input, int[] output)
    {
        var target = output.Select(d => (long)d).ToArray();
        if (target.Length > 0 && input.Length > 0)
        {
            target[0] = output[0] == input[0] ? 0 : -1;
        }

        return target;
    }

    /// <summary>Expand's target: 1 (keep the input's size) wherever the right-aligned input already has the output's size.</summary>
    private static long[] ExpandTarget(int[] input, int[] output)
    {
        var target = output.Select(d => (long)d).ToArray();
        for (var i = 1; i <= input.Length; i++)
        {
            if (input[^i] == output[^i])
            {
                target[^i] = 1;
            }
        }

        return target;
    }

    private string Filled(int[] shape, double value)
    {
        var values = Enumerable.Repeat(T.CreateTruncating(value), shape.Aggregate(1, (a, b) => a * b)).ToArray();
        return _model.Initializer(_model.Fresh(value == 0 ? "zeros" : "ones"), _dataType, [.. shape.Select(d => (long)d)], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    }

    // Opset 17 has no Gelu: exact x·½(1 + erf(x/√2)); tanh ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    private string Gelu(string x, string approximate)
    {
        string inner;
        if (approximate == "tanh")
        {
            var cube = _model.Node("Mul", [_model.Node("Mul", [x, x]), x]);
            var poly = _model.Node("Add", [x, _model.Node("Mul", [cube, Scalar(0.044715)])]);
            inner = _model.Node("Tanh", [_model.Node("Mul", [poly, Scalar(Math.Sqrt(2 / Math.PI))])]);
        }
        else
        {
            inner = _model.Node("Erf", [_model.Node("Mul", [x, Scalar(1 / Math.Sqrt(2))])]);
        }

        return _model.Node("Mul", [_model.Node("Mul", [x, _model.Node("Add", [inner, Scalar(1)])]), Scalar(0.5)]);
    }

    private string MaxPool(TracedOp op, string input, int[] shape)
    {
        var k = (int[])op.Attributes["kernel"]!;
        var s = (int[])op.Attributes["strides"]!;
        var p = (int[])op.Attributes["pads"]!;
        var d = (int[])op.Attributes["dilations"]!;
        var size = (int[])op.Attributes["outputSize"]!;
        var floorH = (shape[2] + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
        var floorW = (shape[3] + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
        var ceil = size[0] != floorH || size[1] != floorW ? 1 : 0;
        return _model.Node("MaxPool", [input], ("kernel_shape", k), ("strides", s), ("pads", p), ("dilations", d), ("ceil_mode", ceil));
    }

    /// <summary>
    /// softmax(scale·Q·Kᵀ + mask)·V: MatMul, Mul, the causal mask as an additive constant (0 on and below the
    /// diagonal, −∞ above: PyTorch's top-left triangle), Softmax over the keys, MatMul.
    /// </summary>
    private string Attention(TracedOp op, CallSite site)
    {
        var x = op.Inputs;
        if (x[3] is not null || x[4] is not null || (double)op.Attributes["dropoutP"]! != 0)
        {
            throw Unsupported(op.OpName, site, "with attnMask, attnBias or dropoutP has no ONNX form in this exporter yet (isCausal and scale do)");
        }

        var q = (Tensor<T>)x[0]!;
        var k = (Tensor<T>)x[1]!;
        var (l, s, e) = (q.Shape[^2], k.Shape[^2], q.Shape[^1]);
        var perm = Enumerable.Range(0, k.Rank).ToArray();
        (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
        var scale = (double?)op.Attributes["scale"] ?? 1 / Math.Sqrt(e);
        var scores = _model.Node("Mul", [_model.Node("MatMul", [Emit(q), _model.Node("Transpose", [Emit(k)], ("perm", perm))]), Scalar(scale)]);
        if ((bool)op.Attributes["isCausal"]!)
        {
            var mask = new T[l * s];
            for (var i = 0; i < l; i++)
            {
                for (var j = i + 1; j < s; j++)
                {
                    mask[i * s + j] = T.NegativeInfinity;
                }
            }

            var maskName = _model.Initializer(_model.Fresh("causal_mask"), _dataType, [l, s], MemoryMarshal.AsBytes(mask.AsSpan()).ToArray());
            scores = _model.Node("Add", [scores, maskName]);
        }

        return _model.Node("MatMul", [_model.Node("Softmax", [scores], ("axis", -1)), Emit(x[2])]);
    }
}
