using System.Collections.Immutable;
using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Support;

/// <summary>
/// One call of a public op, as a function of named sizes: the shapes of its tensor inputs, the call, and
/// the shape PyTorch gives the result. <see cref="Throws"/> says for which sizes PyTorch raises instead
/// (an empty reduction dim of max, an index into an empty dim, a kernel larger than its input, ...).
/// </summary>
/// <remarks>
/// The catalogue serves the properties that must hold for every op: <c>EmptyDimTests</c> sets each size in
/// turn to 0, <c>LifetimeTests</c> runs each op on inputs that nothing else references. Inputs are leaves of
/// <see cref="TensorSample"/> values in [<see cref="Lo"/>, <see cref="Hi"/>); an op that takes a mask or
/// indices builds them inside <see cref="Apply"/> from the sizes, so a case is a pure function of its sizes.
/// </remarks>
public sealed record OpCall(
    string Op,
    string Label,
    Case Sizes,
    Func<Case, int[][]> Shapes,
    Func<Case, Tensor<double>[], Tensor<double>> Apply,
    Func<Case, int[]> Output)
{
    /// <summary>PyTorch's error for these sizes (its words), or null where PyTorch returns a result.</summary>
    public Func<Case, string?> Throws { get; init; } = _ => null;

    /// <summary>False for ops whose result carries no gradient (indices, masks, samples).</summary>
    public bool Differentiable { get; init; } = true;

    public double Lo { get; init; } = -1;

    public double Hi { get; init; } = 1;

    /// <summary>For a reduction: its value over an empty dim (PyTorch's: sum 0, prod 1, mean NaN, ...).</summary>
    public double? OverEmpty { get; init; }

    /// <summary>Sizes never set to 0, each with the reason (what PyTorch requires of them).</summary>
    public ImmutableDictionary<string, string> NotZeroed { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>The leaves for <paramref name="sizes"/> (requiring grad when the op is differentiable).</summary>
    public Tensor<double>[] Leaves(Case sizes, ulong seed = 7) =>
        [.. Shapes(sizes).Select((shape, i) =>
        {
            var values = new TensorSample(shape, ViewKind.Contiguous, seed + (ulong)i * 0x9E3779B97F4A7C15UL, Lo, Hi).LeafValues();
            return Tensor.FromArray(values, shape, requiresGrad: Differentiable);
        })];

    /// <summary>The sizes with <paramref name="name"/> set to <paramref name="value"/>.</summary>
    public Case With(string name, int value) => Sizes with { Values = Sizes.Values.SetItem(Sizes.Names.IndexOf(name), value) };

    public override string ToString() => $"{Label} ({Sizes})";
}

/// <summary>The public ops of Autograd.Ops and Tensor's views, each called once or more (<see cref="OpCall"/>).</summary>
public static class OpCatalogue
{
    private static Case Sizes(string text)
    {
        var pairs = text.Split(',', StringSplitOptions.TrimEntries).Select(p => p.Split('=')).ToArray();
        return new Case([.. pairs.Select(p => p[0])], [.. pairs.Select(p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture))], [], 0);
    }

    private static OpCall Call(string op, string sizes, Func<Case, int[][]> shapes, Func<Case, Tensor<double>[], Tensor<double>> apply, Func<Case, int[]> output, string? label = null) =>
        new(op, label ?? op, Sizes(sizes), shapes, apply, output);

    /// <summary>An op of one [n, c] input whose result has the input's shape.</summary>
    private static OpCall Unary(string op, Func<Tensor<double>, Tensor<double>> f, string? label = null) =>
        Call(op, "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => f(x[0]), s => [s["n"], s["c"]], label);

    /// <summary>An op of two [n, c] inputs whose result has their shape.</summary>
    private static OpCall Binary(string op, Func<Tensor<double>, Tensor<double>, Tensor<double>> f, string? label = null) =>
        Call(op, "n=3,c=4", s => [[s["n"], s["c"]], [s["n"], s["c"]]], (_, x) => f(x[0], x[1]), s => [s["n"], s["c"]], label);

    /// <summary>A reduction of an [n, c] input over all of it (a scalar) or over dim 1 (an [n] result).</summary>
    private static IEnumerable<OpCall> Reduce(string op, Func<Tensor<double>, Tensor<double>> all, Func<Tensor<double>, Tensor<double>> overDim1, double? overEmpty, string? emptyError = null)
    {
        yield return Call(op, "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => all(x[0]), _ => [], $"{op} over all") with
        {
            OverEmpty = overEmpty,
            Throws = s => emptyError is not null && s["n"] * s["c"] == 0 ? $"{op.ToLowerInvariant()}(): Expected reduction dim to be specified for input.numel() == 0" : null,
        };
        yield return Call(op, "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => overDim1(x[0]), s => [s["n"]], $"{op} over dim 1") with
        {
            OverEmpty = overEmpty,
            Throws = s => emptyError is not null && s["c"] == 0 ? emptyError : null,
        };
    }

    private static int[] Range(int count, Func<int, int> f) => [.. Enumerable.Range(0, count).Select(f)];

    private static Tensor<double> Indices(IndexTensor indices) =>
        Tensor.FromArray(indices.ToArray().Select(v => (double)v).ToArray(), indices.Shape);

    private const string EmptyMaxDim = "Expected reduction dim 1 to have non-zero size";

    public static IReadOnlyList<OpCall> All { get; } = [.. Build()];

    private static IEnumerable<OpCall> Build()
    {
        // ---- Elementwise ----
        yield return Unary("Neg", x => x.Neg());
        yield return Unary("Exp", x => x.Exp());
        yield return Unary("Log", x => x.Log()) with { Lo = 0.5, Hi = 2 };
        yield return Unary("Tanh", x => x.Tanh());
        yield return Unary("Sigmoid", x => x.Sigmoid());
        yield return Unary("Relu", x => x.Relu());
        yield return Unary("Sqrt", x => x.Sqrt()) with { Lo = 0.5, Hi = 2 };
        yield return Unary("Rsqrt", x => x.Rsqrt()) with { Lo = 0.5, Hi = 2 };
        yield return Unary("Square", x => x.Square());
        yield return Unary("Abs", x => x.Abs());
        yield return Unary("Sign", x => x.Sign());
        yield return Unary("Clamp", x => x.Clamp(-0.5, 0.5));
        yield return Unary("Softplus", x => x.Softplus());
        yield return Unary("LeakyRelu", x => x.LeakyRelu(0.1));
        yield return Unary("Erf", x => x.Erf());
        yield return Unary("Gelu", x => x.Gelu());
        yield return Unary("Gelu", x => x.Gelu("tanh"), "Gelu tanh");
        yield return Unary("Pow", x => x.Pow(2.5), "Pow by a scalar") with { Lo = 0.5, Hi = 2 };
        yield return Unary("Pow", x => Tensor.Pow(2.0, x), "Pow of a scalar");
        yield return Unary("Dropout", x => x.Dropout(0.5, generator: new Generator(3)));
        yield return Unary("Tril", x => x.Tril());
        yield return Unary("Triu", x => x.Triu(1));
        yield return Unary("Cast", x => x.Cast<float>().Cast<double>());
        yield return Unary("Clone", x => x.Clone());
        yield return Unary("Operators", x => ((2.0 * x) + 1.0 - (x / 3.0)) * x - 0.5, "scalar operators");
        yield return Unary("MaskedFill", x => x.MaskedFill(x.Gt(0.0), 0.5));
        yield return Binary("Add", (a, b) => a.Add(b));
        yield return Binary("Sub", (a, b) => a.Sub(b));
        yield return Binary("Mul", (a, b) => a.Mul(b));
        yield return Binary("Div", (a, b) => a.Div(b)) with { Lo = 0.5, Hi = 2 };
        yield return Binary("Operators", (a, b) => (a + b) * (a - b) / (b * b + 1.0), "tensor operators");
        yield return Binary("Maximum", (a, b) => a.Maximum(b));
        yield return Binary("Minimum", (a, b) => a.Minimum(b));
        yield return Binary("Pow", (a, b) => a.Pow(b), "Pow by a tensor") with { Lo = 0.5, Hi = 2 };
        yield return Binary("Where", (a, b) => a.Where(a.Gt(b), b));
        yield return Binary("Where", (a, b) => Tensor.Where(a.Lt(b), a, b), "Tensor.Where");
        foreach (var (name, compare) in new (string, Func<Tensor<double>, Tensor<double>, Tensor<double>>)[]
            { ("Eq", (a, b) => a.Eq(b)), ("Ne", (a, b) => a.Ne(b)), ("Lt", (a, b) => a.Lt(b)), ("Le", (a, b) => a.Le(b)), ("Gt", (a, b) => a.Gt(b)), ("Ge", (a, b) => a.Ge(0.0)) })
        {
            yield return Binary(name, compare) with { Differentiable = false };
        }

        yield return Binary("Lerp", (a, b) => a.Lerp(b, 0.25));
        yield return Call("Lerp", "n=3,c=4", s => [[s["n"], s["c"]], [s["n"], s["c"]], [s["n"], s["c"]]], (_, x) => x[0].Lerp(x[1], x[2]), s => [s["n"], s["c"]], "Lerp by a tensor weight");
        yield return Unary("To", x => x.To<float>().To<double>(), "To<float> and back");
        yield return Unary("Float", x => x.Float().Double(), "Float and back");
        yield return Unary("Double", x => x.Double());
        yield return Call("T", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].T, s => [s["c"], s["n"]], "T");
        yield return Call("MaskedSelect", "n=3,c=4", s => [[s["n"], s["c"]]], (s, x) => x[0].MaskedSelect(EveryOther(s["n"], s["c"])), s => [((s["n"] * s["c"]) + 1) / 2]);
        yield return Call("Sort", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].Sort(1).Values, s => [s["n"], s["c"]]);
        yield return Call("Sort", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].Sort(0, descending: true).Values, s => [s["n"], s["c"]], "Sort descending over dim 0");

        // Broadcasting against a row: [n, c] + [c].
        yield return Call("Add", "n=3,c=4", s => [[s["n"], s["c"]], [s["c"]]], (_, x) => x[0] + x[1], s => [s["n"], s["c"]], "Add broadcast");

        // ---- Reductions ----
        foreach (var call in Reduce("Sum", x => x.Sum(), x => x.Sum(1), 0))
        {
            yield return call;
        }

        foreach (var call in Reduce("Mean", x => x.Mean(), x => x.Mean(1), double.NaN))
        {
            yield return call;
        }

        foreach (var call in Reduce("Max", x => x.Max(), x => x.Max(1), null, EmptyMaxDim))
        {
            yield return call;
        }

        foreach (var call in Reduce("Min", x => x.Min(), x => x.Min(1), null, EmptyMaxDim))
        {
            yield return call;
        }

        foreach (var call in Reduce("Prod", x => x.Prod(), x => x.Prod(1), 1))
        {
            yield return call;
        }

        foreach (var call in Reduce("Var", x => x.Var(), x => x.Var(1), double.NaN))
        {
            yield return call;
        }

        foreach (var call in Reduce("Std", x => x.Std(), x => x.Std(1), double.NaN))
        {
            yield return call;
        }

        foreach (var call in Reduce("Norm", x => x.Norm(), x => x.Norm(dims: [1]), 0))
        {
            yield return call;
        }

        yield return Call("LogSumExp", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].LogSumExp(1), s => [s["n"]]) with { OverEmpty = double.NegativeInfinity };
        yield return Unary("Softmax", x => x.Softmax(1));
        yield return Unary("LogSoftmax", x => x.LogSoftmax(1));
        yield return Unary("Softmax", x => x.Softmax(0), "Softmax over dim 0");
        yield return Call("TopK", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].TopK(2).Values, s => [s["n"], 2]) with
        {
            Throws = s => s["c"] < 2 ? "selected index k out of range" : null,
        };
        yield return Call("Argmax", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => Indices(x[0].Argmax(1)), s => [s["n"]]) with
        {
            Differentiable = false,
            Throws = s => s["c"] == 0 ? EmptyMaxDim : null,
        };
        yield return Call("Argmin", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => Indices(x[0].Argmin(1)), s => [s["n"]]) with
        {
            Differentiable = false,
            Throws = s => s["c"] == 0 ? EmptyMaxDim : null,
        };
        yield return Call("Multinomial", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => Indices(x[0].Multinomial(2, generator: new Generator(5))), s => [s["n"], 2]) with
        {
            Differentiable = false,
            Lo = 0.1,
            Throws = s => s["c"] < 2 ? "cannot sample n_sample > prob_dist.size(-1) samples without replacement" : null,
        };

        // ---- Views ----
        yield return Call("Reshape", "n=3,c=4", s => [[s["n"], s["c"]]], (s, x) => x[0].Reshape(s["c"], s["n"]), s => [s["c"], s["n"]]);
        yield return Call("View", "n=3,c=4", s => [[s["n"], s["c"]]], (s, x) => x[0].View(s["n"] * s["c"]), s => [s["n"] * s["c"]]);
        yield return Call("Flatten", "n=3,c=4,d=2", s => [[s["n"], s["c"], s["d"]]], (_, x) => x[0].Flatten(1), s => [s["n"], s["c"] * s["d"]]);
        yield return Call("Unsqueeze", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].Unsqueeze(1), s => [s["n"], 1, s["c"]]);
        yield return Call("Squeeze", "n=3,c=4", s => [[s["n"], 1, s["c"]]], (_, x) => x[0].Squeeze(1), s => [s["n"], s["c"]]);
        yield return Call("Transpose", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].Transpose(0, 1), s => [s["c"], s["n"]]);
        yield return Call("Permute", "n=3,c=4,d=2", s => [[s["n"], s["c"], s["d"]]], (_, x) => x[0].Permute(2, 0, 1), s => [s["d"], s["n"], s["c"]]);
        yield return Call("Slice", "n=3,c=5", s => [[s["n"], s["c"]]], (s, x) => x[0].Slice(1, 0, s["c"], 2), s => [s["n"], (s["c"] + 1) / 2]);
        yield return Call("Narrow", "n=3,c=4", s => [[s["n"], s["c"]]], (s, x) => x[0].Narrow(1, 0, s["c"] / 2), s => [s["n"], s["c"] / 2]);
        yield return Call("Select", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].Select(1, 0), s => [s["n"]]) with
        {
            Throws = s => s["c"] == 0 ? "select(): index 0 out of range for tensor of size [n, 0] at dimension 1" : null,
        };
        yield return Call("Expand", "n=3,c=4", s => [[1, s["c"]]], (s, x) => x[0].Expand(s["n"], s["c"]), s => [s["n"], s["c"]]);
        yield return Call("SumToSize", "n=3,c=4", s => [[s["n"], s["c"]]], (s, x) => x[0].SumToSize(1, s["c"]), s => [1, s["c"]]);
        yield return Call("AsStrided", "n=3,c=4", s => [[s["n"] * s["c"]]], (s, x) => x[0].AsStrided([s["c"], s["n"]], [1, s["c"]]), s => [s["c"], s["n"]]);
        yield return Call("Contiguous", "n=3,c=4", s => [[s["n"], s["c"]]], (_, x) => x[0].Transpose(0, 1).Contiguous(), s => [s["c"], s["n"]]);

        // ---- Joining and indexing ----
        yield return Call("Cat", "n=3,m=2,c=4", s => [[s["n"], s["c"]], [s["m"], s["c"]]], (_, x) => Tensor.Cat([x[0], x[1]], 0), s => [s["n"] + s["m"], s["c"]]);
        yield return Call("Stack", "n=3,c=4", s => [[s["n"], s["c"]], [s["n"], s["c"]]], (_, x) => Tensor.Stack([x[0], x[1]], 1), s => [s["n"], 2, s["c"]]);
        yield return Call("Split", "n=3,c=5", s => [[s["n"], s["c"]]], (_, x) => Tensor.Cat(x[0].Split(2, 1), 1), s => [s["n"], s["c"]], "Split and Cat");
        yield return Call("Chunk", "n=3,c=5", s => [[s["n"], s["c"]]], (_, x) => Tensor.Cat(x[0].Chunk(2, 1), 1), s => [s["n"], s["c"]], "Chunk and Cat");
        yield return Call("IndexSelect", "n=3,c=4,k=5", s => [[s["n"], s["c"]]], (s, x) => x[0].IndexSelect(0, Range(s["k"], i => i % Math.Max(s["n"], 1))), s => [s["k"], s["c"]]) with
        {
            Throws = s => s["n"] == 0 && s["k"] > 0 ? "index out of range in self" : null,
        };
        yield return Call("Gather", "n=3,c=4,k=5", s => [[s["n"], s["c"]]], (s, x) => x[0].Gather(1, IndexTensor.FromArray(Range(s["n"] * s["k"], i => (i * 7) % Math.Max(s["c"], 1)), [s["n"], s["k"]])), s => [s["n"], s["k"]]) with
        {
            Throws = s => s["c"] == 0 && s["n"] * s["k"] > 0 ? "index 0 is out of bounds for dimension 1 with size 0" : null,
        };
        yield return Call("ScatterAdd", "n=3,c=4,k=5", s => [[s["n"], s["c"]], [s["n"], s["k"]]], (s, x) => x[0].ScatterAdd(1, IndexTensor.FromArray(Range(s["n"] * s["k"], i => (i * 7) % Math.Max(s["c"], 1)), [s["n"], s["k"]]), x[1]), s => [s["n"], s["c"]]) with
        {
            Throws = s => s["c"] == 0 && s["n"] * s["k"] > 0 ? "index 0 is out of bounds for dimension 1 with size 0" : null,
        };
        yield return Call("Embedding", "v=5,d=3,b=2,t=4", s => [[s["v"], s["d"]]], (s, x) => x[0].Embedding(IndexTensor.FromArray(Range(s["b"] * s["t"], i => (i * 3) % Math.Max(s["v"], 1)), [s["b"], s["t"]])), s => [s["b"], s["t"], s["d"]]) with
        {
            Throws = s => s["v"] == 0 && s["b"] * s["t"] > 0 ? "index out of range in self" : null,
        };
        yield return Call("OneHot", "n=4,c=3", _ => [], (s, _) => Tensor.OneHot<double>(IndexTensor.FromArray(Range(s["n"], i => i % Math.Max(s["c"], 1))), s["c"]), s => [s["n"], s["c"]]) with
        {
            Differentiable = false,
            Throws = s => s["c"] == 0 && s["n"] > 0 ? "Class values must be smaller than num_classes." : null,
        };

        // ---- In place (not recorded: the written tensor does not require grad) ----
        foreach (var (name, update) in new (string, Func<Tensor<double>, Tensor<double>, Tensor<double>>)[]
        {
            ("AddInPlace", (x, o) => x.AddInPlace(o, 0.5)), ("SubInPlace", (x, o) => x.SubInPlace(o)), ("MulInPlace", (x, o) => x.MulInPlace(o)),
            ("DivInPlace", (x, o) => x.DivInPlace(o)), ("AddcmulInPlace", (x, o) => x.AddcmulInPlace(o, o, 0.5)), ("AddcdivInPlace", (x, o) => x.AddcdivInPlace(o, o, 0.5)),
            ("LerpInPlace", (x, o) => x.LerpInPlace(o, 0.25)), ("CopyFrom", (x, o) => x.CopyFrom(o)), ("Fill", (x, _) => x.Fill(2)), ("Zero", (x, _) => x.Zero()),
            ("MaskedFillInPlace", (x, o) => x.MaskedFillInPlace(o.Gt(1.0), 0.5)),
        })
        {
            yield return Binary(name, (a, b) => update(a.Clone(), b)) with { Differentiable = false, Lo = 0.5, Hi = 2 };
        }

        // ---- Linear algebra ----
        yield return Call("MatMul", "b=2,n=3,k=4,m=5", s => [[s["b"], s["n"], s["k"]], [s["k"], s["m"]]], (_, x) => x[0].MatMul(x[1]), s => [s["b"], s["n"], s["m"]]);
        yield return Call("MatMul", "n=3,k=4", s => [[s["n"], s["k"]], [s["k"]]], (_, x) => x[0].MatMul(x[1]), s => [s["n"]], "MatMul matrix-vector");

        // ---- Convolution and pooling: each strategy's geometry (docs/architecture.md, ConvPlan) ----
        static string? KernelTooLarge(int size, int padding, int kernel) =>
            size + 2 * padding < kernel ? "Kernel size can't be greater than actual input size" : null;
        yield return Conv("Conv2d 3×3 (the reported geometry)", "n=2,c=3,h=8,w=8,f=4", k: 3, stride: 1, padding: 0, groups: 1, dilation: 1);
        yield return Conv("Conv2d 3×3 same", "n=2,c=3,h=6,w=6,f=4", k: 3, stride: 1, padding: 1, groups: 1, dilation: 1);
        yield return Conv("Conv2d stride 2", "n=2,c=3,h=7,w=7,f=4", k: 3, stride: 2, padding: 1, groups: 1, dilation: 1);
        yield return Conv("Conv2d 1×1", "n=2,c=3,h=5,w=5,f=4", k: 1, stride: 1, padding: 0, groups: 1, dilation: 1);
        yield return Conv("Conv2d groups 2", "n=2,c=4,h=6,w=6,f=4", k: 3, stride: 1, padding: 1, groups: 2, dilation: 1);
        yield return Conv("Conv2d dilation 2", "n=2,c=3,h=7,w=7,f=4", k: 3, stride: 1, padding: 0, groups: 1, dilation: 2);

        OpCall Conv(string label, string sizes, int k, int stride, int padding, int groups, int dilation)
        {
            var span = dilation * (k - 1) + 1;
            int Out(int size) => ((size + 2 * padding - span) / stride) + 1;
            return Call(
                "Conv2d",
                sizes,
                s => [[s["n"], s["c"], s["h"], s["w"]], [s["f"], s["c"] / groups, k, k], [s["f"]]],
                (_, x) => x[0].Conv2d(x[1], x[2], stride: stride, padding: padding, dilation: dilation, groups: groups),
                s => [s["n"], s["f"], Out(s["h"]), Out(s["w"])],
                label) with
            {
                Throws = s => NoFilters(s) ?? KernelTooLarge(s["h"], padding, span) ?? KernelTooLarge(s["w"], padding, span),
                NotZeroed = NoInputChannels,
            };
        }

        yield return Call(
            "Conv1d",
            "n=2,c=3,l=8,f=4",
            s => [[s["n"], s["c"], s["l"]], [s["f"], s["c"], 3], [s["f"]]],
            (_, x) => x[0].Conv1d(x[1], x[2]),
            s => [s["n"], s["f"], s["l"] - 2]) with
        {
            Throws = s => NoFilters(s) ?? KernelTooLarge(s["l"], 0, 3),
            NotZeroed = NoInputChannels,
        };

        yield return Call(
            "ConvTranspose2d",
            "n=2,c=3,h=4,w=4,f=2",
            s => [[s["n"], s["c"], s["h"], s["w"]], [s["c"], s["f"], 3, 3], [s["f"]]],
            (_, x) => x[0].ConvTranspose2d(x[1], x[2], stride: 2, padding: 1),
            s => [s["n"], s["f"], Math.Max((s["h"] - 1) * 2 - 2 + 3, 0), Math.Max((s["w"] - 1) * 2 - 2 + 3, 0)]) with
        {
            Throws = s => s["h"] == 0 || s["w"] == 0 ? "Given input size per channel: (0 x 4). Calculated output size per channel: (-1 x 7). Output size is too small" : null,
            NotZeroed = NoInputChannels.Add("f", "zero output channels per group: rejected by this op's argument check; not compared with PyTorch"),
        };

        // PyTorch's pooling takes an empty batch, but no other empty dim ("Expected 3D or 4D (batch mode)
        // tensor with optional 0 dim batch size for input").
        static string? EmptyPlane(Case s) =>
            s["c"] == 0 || s["h"] == 0 || s["w"] == 0 ? "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input" : null;
        yield return Call("MaxPool2d", "n=2,c=3,h=6,w=6", s => [[s["n"], s["c"], s["h"], s["w"]]], (_, x) => x[0].MaxPool2d(2), s => [s["n"], s["c"], s["h"] / 2, s["w"] / 2]) with { Throws = EmptyPlane };
        yield return Call("MaxPool2d", "n=2,c=3,h=7,w=7", s => [[s["n"], s["c"], s["h"], s["w"]]], (_, x) => x[0].MaxPool2d(3, stride: 2, padding: 1), s => [s["n"], s["c"], ((s["h"] - 1) / 2) + 1, ((s["w"] - 1) / 2) + 1], "MaxPool2d 3×3 stride 2 padded") with { Throws = EmptyPlane };
        yield return Call("AvgPool2d", "n=2,c=3,h=6,w=6", s => [[s["n"], s["c"], s["h"], s["w"]]], (_, x) => x[0].AvgPool2d(2), s => [s["n"], s["c"], s["h"] / 2, s["w"] / 2]) with { Throws = EmptyPlane };
        yield return Call("AdaptiveAvgPool2d", "n=2,c=3,h=6,w=5", s => [[s["n"], s["c"], s["h"], s["w"]]], (_, x) => x[0].AdaptiveAvgPool2d((2, 3)), s => [s["n"], s["c"], 2, 3]) with { Throws = EmptyPlane };

        // ---- Normalization, attention ----
        yield return Call("LayerNorm", "n=3,d=4", s => [[s["n"], s["d"]], [s["d"]], [s["d"]]], (s, x) => x[0].LayerNorm([s["d"]], x[1], x[2]), s => [s["n"], s["d"]]) with
        {
            NotZeroed = ImmutableDictionary<string, string>.Empty.Add("d", "an empty normalizedShape: rejected by this op's argument check (nn.LayerNorm(0) has nothing to normalise); not compared with PyTorch"),
        };
        yield return Call("BatchNorm2d", "n=2,c=3,h=3,w=3", s => [[s["n"], s["c"], s["h"], s["w"]], [s["c"]], [s["c"]]], (_, x) => x[0].BatchNorm2d(null, null, x[1], x[2], training: true), s => [s["n"], s["c"], s["h"], s["w"]]) with
        {
            NotZeroed = ImmutableDictionary<string, string>.Empty.Add("c", "BatchNorm2d(0) has no channel to normalise: PyTorch's module and functional form take num_features ≥ 1"),
        };
        yield return Call("BatchNorm1d", "n=3,c=4", s => [[s["n"], s["c"]], [s["c"]], [s["c"]]], (_, x) => x[0].BatchNorm1d(null, null, x[1], x[2], training: true), s => [s["n"], s["c"]]) with
        {
            NotZeroed = ImmutableDictionary<string, string>.Empty.Add("c", "BatchNorm1d(0) has no feature to normalise: PyTorch's module and functional form take num_features ≥ 1"),
        };
        yield return Call("BatchNorm1d", "n=2,c=3,l=4", s => [[s["n"], s["c"], s["l"]], [s["c"]], [s["c"]]], (_, x) => x[0].BatchNorm1d(null, null, x[1], x[2], training: true), s => [s["n"], s["c"], s["l"]], "BatchNorm1d over [N, C, L]") with
        {
            NotZeroed = ImmutableDictionary<string, string>.Empty.Add("c", "BatchNorm1d(0) has no feature to normalise: PyTorch's module and functional form take num_features ≥ 1"),
        };
        yield return Call("GroupNorm", "n=2,c=4,h=3", s => [[s["n"], s["c"], s["h"]], [s["c"]], [s["c"]]], (_, x) => x[0].GroupNorm(2, x[1], x[2]), s => [s["n"], s["c"], s["h"]]) with
        {
            NotZeroed = ImmutableDictionary<string, string>.Empty.Add("c", "GroupNorm(2, 0): the channels are split into the groups, and PyTorch's module takes num_channels ≥ 1"),
        };
        yield return Call("Dropout2d", "n=2,c=3,h=4,w=4", s => [[s["n"], s["c"], s["h"], s["w"]]], (_, x) => x[0].Dropout2d(0.5, generator: new Generator(3)), s => [s["n"], s["c"], s["h"], s["w"]]);

        // upsample_nearest2d / upsample_bilinear2d take an empty batch only: "Non-empty 4D data tensor expected".
        static string? EmptyResample(Case s) =>
            s["c"] == 0 || s["h"] == 0 || s["w"] == 0 ? "Non-empty 4D data tensor expected but got a tensor with sizes [n, c, h, w]" : null;
        yield return Call("Interpolate", "n=2,c=3,h=4,w=3", s => [[s["n"], s["c"], s["h"], s["w"]]], (_, x) => x[0].Interpolate(2.0), s => [s["n"], s["c"], 2 * s["h"], 2 * s["w"]], "Interpolate nearest ×2") with { Throws = EmptyResample };
        yield return Call("Interpolate", "n=2,c=3,h=4,w=3", s => [[s["n"], s["c"], s["h"], s["w"]]], (_, x) => x[0].Interpolate([5, 4], mode: "bilinear", alignCorners: false), s => [s["n"], s["c"], 5, 4], "Interpolate bilinear to 5×4") with
        {
            Throws = EmptyResample,
        };

        foreach (var (label, causal, mask) in new[] { ("ScaledDotProductAttention", false, false), ("ScaledDotProductAttention causal", true, false), ("ScaledDotProductAttention with a mask", false, true) })
        {
            yield return Call(
                "ScaledDotProductAttention",
                "b=2,l=3,s=4,e=2",
                s => [[s["b"], s["l"], s["e"]], [s["b"], s["s"], s["e"]], [s["b"], s["s"], s["e"]]],
                (s, x) => Tensor.ScaledDotProductAttention(x[0], x[1], x[2], attnMask: mask ? Tensor.Ones<double>(s["l"], s["s"]).Tril() : null, isCausal: causal),
                s => [s["b"], s["l"], s["e"]],
                label) with
            {
                NotZeroed = ImmutableDictionary<string, string>.Empty.Add("e", "the default scale is 1/√E, infinite for E = 0"),
            };
        }

        // ---- Losses ----
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
        {
            var reduced = reduction == Reduction.None;
            Func<Case, int[]> loss = s => reduced ? [s["n"]] : [];
            string? TargetOutOfRange(Case s) => s["c"] == 0 && s["n"] > 0 ? "Target 0 is out of bounds." : null;
            yield return Call("NllLoss", "n=3,c=4", s => [[s["n"], s["c"]]], (s, x) => x[0].LogSoftmax(1).NllLoss(Range(s["n"], i => i % Math.Max(s["c"], 1)), reduction: reduction), loss, $"NllLoss {reduction}") with { Throws = TargetOutOfRange };
            yield return Call("CrossEntropy", "n=3,c=4", s => [[s["n"], s["c"]]], (s, x) => x[0].CrossEntropy(Range(s["n"], i => i % Math.Max(s["c"], 1)), reduction: reduction), loss, $"CrossEntropy {reduction}") with { Throws = TargetOutOfRange };
            Func<Case, int[]> elementwise = s => reduced ? [s["n"], s["c"]] : [];
            yield return Call("MseLoss", "n=3,c=4", s => [[s["n"], s["c"]], [s["n"], s["c"]]], (_, x) => x[0].MseLoss(x[1], reduction), elementwise, $"MseLoss {reduction}");
            yield return Call("L1Loss", "n=3,c=4", s => [[s["n"], s["c"]], [s["n"], s["c"]]], (_, x) => x[0].L1Loss(x[1], reduction), elementwise, $"L1Loss {reduction}");
            yield return Call("BinaryCrossEntropyWithLogits", "n=3,c=4", s => [[s["n"], s["c"]], [s["n"], s["c"]]], (_, x) => x[0].BinaryCrossEntropyWithLogits(x[1].Sigmoid(), reduction: reduction), elementwise, $"BinaryCrossEntropyWithLogits {reduction}");
        }
    }

    /// <summary>A 0/1 mask [n, c] selecting every other element in row-major order.</summary>
    private static Tensor<double> EveryOther(int n, int c) =>
        Tensor.FromArray(Enumerable.Range(0, n * c).Select(i => i % 2 == 0 ? 1.0 : 0.0).ToArray(), [n, c]);

    /// <summary>
    /// Zero input channels: this op's argument check rejects them ("input channels and spatial size must be
    /// positive"), a convolution over nothing; what PyTorch's backends give there was not compared.
    /// </summary>
    private static ImmutableDictionary<string, string> NoInputChannels => ImmutableDictionary<string, string>.Empty
        .Add("c", "zero input channels: rejected by this op's argument check; not compared with PyTorch");

    private static string? NoFilters(Case s) => s["f"] == 0 ? "Given groups=1, expected weight to be at least 1 at dimension 0, but got weight of size [0, ...]" : null;
}
