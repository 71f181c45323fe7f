using System.Reflection;
using Autograd;
using Autograd.Nn;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Reliability;

/// <summary>
/// PyTorch answers a zero-size dim in every op with an empty result of the right shape and, in backward,
/// gradients of the inputs' shapes that are zero where the result is empty; reductions over an empty dim
/// give their identity (sum 0, prod 1, norm 0, logsumexp −∞) or NaN (mean, var, std), and raise where
/// there is none (max, min, argmax over an empty dim). Here every call of <see cref="OpCatalogue"/> and
/// every module of Autograd.Nn runs with each of its sizes set to 0 in turn, and must do the same: no
/// throw where PyTorch returns (an <see cref="ArgumentException"/> where PyTorch raises), the result's
/// shape, the value over an empty dim, and in backward a gradient for every input, of its shape, zero
/// when the result is empty.
/// </summary>
public class EmptyDimTests
{
    public static IEnumerable<TestCaseData> Cases() =>
        OpCatalogue.All.SelectMany(call => call.Sizes.Names
            .Where(name => !call.NotZeroed.ContainsKey(name))
            .Select(name => new TestCaseData(call, name).SetArgDisplayNames(call.Label, $"{name}=0")));

    [TestCaseSource(nameof(Cases))]
    public void Op_WithAZeroSizeDim_GivesPyTorchsEmptyResultAndZeroGradients(OpCall call, string dim)
    {
        var sizes = call.With(dim, 0);
        Check(call.Label, call.Throws(sizes), call.Output(sizes), call.Differentiable, call.OverEmpty, () =>
        {
            var leaves = call.Leaves(sizes);
            return (call.Apply(sizes, leaves), leaves);
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void Op_AtItsDefaultSizes_Runs(OpCall call, string dim)
    {
        // Guards the guard: the default sizes are valid, so the case above tests the zero and nothing else.
        _ = dim;
        Assert.That(call.Throws(call.Sizes), Is.Null);
        var y = call.Apply(call.Sizes, call.Leaves(call.Sizes));
        Assert.That(y.Shape, Is.EqualTo(call.Output(call.Sizes)));
    }

    /// <summary>
    /// Every public op is in the catalogue: the extension methods of Autograd.Ops (in-place updates too) and
    /// the view methods of <see cref="Tensor{T}"/> that return tensors, as <see cref="OpCoverageTests"/> finds them.
    /// </summary>
    [Test]
    public void Catalogue_HasEveryPublicOp()
    {
        var ops = typeof(MatMulExtensions).Assembly.GetExportedTypes()
            .Where(t => t.IsAbstract && t.IsSealed)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Where(m => !m.IsSpecialName && !m.Name.StartsWith("op_", StringComparison.Ordinal) && ReturnsTensors(m.ReturnType))
            .Select(m => m.Name.StartsWith("get_", StringComparison.Ordinal) ? m.Name[4..] : m.Name)   // extension properties (x.T)
            .Concat(OpCoverageTests.OpNames())
            .Where(n => n != "Detach")
            .Distinct();
        var catalogued = OpCatalogue.All.Select(c => c.Op).ToHashSet();
        Assert.That(ops.Where(op => !catalogued.Contains(op)), Is.Empty, "public ops missing from OpCatalogue");
    }

    private static bool ReturnsTensors(Type t) =>
        t == typeof(IndexTensor) || (t.IsArray && ReturnsTensors(t.GetElementType()!))
        || (t.IsGenericType && (t.GetGenericTypeDefinition() == typeof(Tensor<>) || t.GetGenericArguments().Any(ReturnsTensors)));

    /// <summary>A module and the inputs of its forward, as functions of named sizes.</summary>
    public sealed record ModuleCall(string Type, string Sizes, Func<Case, Module<double>> Make, Func<Case, int[]> Input, Func<Case, Module<double>, Tensor<double>, Tensor<double>> Forward, Func<Case, int[]> Output)
    {
        public Func<Case, string?> Throws { get; init; } = _ => null;

        /// <summary>The input holds indices (Embedding): not an input with a gradient.</summary>
        public bool IndexInput { get; init; }

        public Case Parsed
        {
            get
            {
                var pairs = Sizes.Split(',').Select(p => p.Split('=')).ToArray();
                return new Case([.. pairs.Select(p => p[0])], [.. pairs.Select(p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture))], [], 0);
            }
        }

        public override string ToString() => Type;
    }

    private static string? EmptyPlane(Case s) => s["h"] == 0 || s["w"] == 0 ? "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input" : null;

    /// <summary>One call per module type of Autograd.Nn; the sizes a module is built with (features, channels) are not zeroed.</summary>
    public static readonly ModuleCall[] Modules =
    [
        new("ReLU", "n=3,c=4", _ => new ReLU<double>(), s => [s["n"], s["c"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"]]),
        new("Tanh", "n=3,c=4", _ => new Tanh<double>(), s => [s["n"], s["c"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"]]),
        new("Sigmoid", "n=3,c=4", _ => new Sigmoid<double>(), s => [s["n"], s["c"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"]]),
        new("GELU", "n=3,c=4", _ => new GELU<double>(), s => [s["n"], s["c"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"]]),
        new("LeakyReLU", "n=3,c=4", _ => new LeakyReLU<double>(), s => [s["n"], s["c"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"]]),
        new("Softmax", "n=3,c=4", _ => new Softmax<double>(1), s => [s["n"], s["c"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"]]),
        new("Flatten", "n=3,c=4,h=2", _ => new Flatten<double>(), s => [s["n"], s["c"], s["h"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"] * s["h"]]),
        new("Dropout", "n=3,c=4", _ => new Dropout<double>(0.5, new Generator(2)), s => [s["n"], s["c"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"]]),
        new("Linear", "n=3", _ => new Linear<double>(4, 5, generator: new Generator(1)), s => [s["n"], 4], (_, m, x) => m.Forward(x), s => [s["n"], 5]),
        new("Conv2d", "n=2,h=8,w=8", _ => new Conv2d<double>(3, 4, 3, generator: new Generator(1)), s => [s["n"], 3, s["h"], s["w"]], (_, m, x) => m.Forward(x), s => [s["n"], 4, s["h"] - 2, s["w"] - 2])
        {
            Throws = s => s["h"] < 3 || s["w"] < 3 ? "Kernel size can't be greater than actual input size" : null,
        },
        new("MaxPool2d", "n=2,h=4,w=4", _ => new MaxPool2d<double>(2), s => [s["n"], 3, s["h"], s["w"]], (_, m, x) => m.Forward(x), s => [s["n"], 3, s["h"] / 2, s["w"] / 2]) { Throws = EmptyPlane },
        new("AvgPool2d", "n=2,h=4,w=4", _ => new AvgPool2d<double>(2), s => [s["n"], 3, s["h"], s["w"]], (_, m, x) => m.Forward(x), s => [s["n"], 3, s["h"] / 2, s["w"] / 2]) { Throws = EmptyPlane },
        new("AdaptiveAvgPool2d", "n=2,h=4,w=4", _ => new AdaptiveAvgPool2d<double>(2), s => [s["n"], 3, s["h"], s["w"]], (_, m, x) => m.Forward(x), s => [s["n"], 3, 2, 2]) { Throws = EmptyPlane },
        new("BatchNorm2d", "n=2,h=3,w=3", _ => new BatchNorm2d<double>(3), s => [s["n"], 3, s["h"], s["w"]], (_, m, x) => m.Forward(x), s => [s["n"], 3, s["h"], s["w"]]),
        new("LayerNorm", "n=3,t=2", _ => new LayerNorm<double>(4), s => [s["n"], s["t"], 4], (_, m, x) => m.Forward(x), s => [s["n"], s["t"], 4]),
        new("Embedding", "n=3,t=2", _ => new Embedding<double>(5, 4, generator: new Generator(1)), s => [s["n"], s["t"]], (_, m, x) => ((Embedding<double>)m).Forward(IndexTensor.FromArray(Enumerable.Range(0, x.Numel).Select(i => i % 5).ToArray(), x.Shape)), s => [s["n"], s["t"], 4]) { IndexInput = true },
        new("MultiheadAttention", "n=2,l=3", _ => new MultiheadAttention<double>(4, 2, batchFirst: true, generator: new Generator(1)), s => [s["n"], s["l"], 4], (_, m, x) => ((MultiheadAttention<double>)m).Forward(x, x, x, needWeights: false).Output, s => [s["n"], s["l"], 4]),
        new("CrossEntropyLoss", "n=3", _ => new CrossEntropyLoss<double>(), s => [s["n"], 4], (s, m, x) => ((CrossEntropyLoss<double>)m).Forward(x, Enumerable.Range(0, s["n"]).Select(i => i % 4).ToArray()), _ => []),
        new("MSELoss", "n=3,c=4", _ => new MSELoss<double>(Reduction.Sum), s => [s["n"], s["c"]], (_, m, x) => ((MSELoss<double>)m).Forward(x, x.Detach() * 0.5), _ => []),
        new("Identity", "n=3,c=4", _ => new Identity<double>(), s => [s["n"], s["c"]], (_, m, x) => m.Forward(x), s => [s["n"], s["c"]]),
        new("Dropout2d", "n=2,h=3,w=3", _ => new Dropout2d<double>(0.5, new Generator(2)), s => [s["n"], 3, s["h"], s["w"]], (_, m, x) => m.Forward(x), s => [s["n"], 3, s["h"], s["w"]]),
        new("Conv1d", "n=2,l=8", _ => new Conv1d<double>(3, 4, 3, generator: new Generator(1)), s => [s["n"], 3, s["l"]], (_, m, x) => m.Forward(x), s => [s["n"], 4, s["l"] - 2])
        {
            Throws = s => s["l"] < 3 ? "Kernel size can't be greater than actual input size" : null,
        },
        new("BatchNorm1d", "n=3", _ => new BatchNorm1d<double>(4), s => [s["n"], 4], (_, m, x) => m.Forward(x), s => [s["n"], 4]),
        new("GroupNorm", "n=2,h=3", _ => new GroupNorm<double>(2, 4), s => [s["n"], 4, s["h"]], (_, m, x) => m.Forward(x), s => [s["n"], 4, s["h"]]),
        new("Upsample", "n=2,h=3,w=2", _ => new Upsample<double>(2.0), s => [s["n"], 3, s["h"], s["w"]], (_, m, x) => m.Forward(x), s => [s["n"], 3, 2 * s["h"], 2 * s["w"]])
        {
            Throws = s => s["h"] == 0 || s["w"] == 0 ? "Non-empty 4D data tensor expected but got a tensor with sizes [n, 3, h, w]" : null,
        },
        new("ModuleDict", "n=3", _ => new ModuleDict<double>([("fc", new Linear<double>(4, 3, generator: new Generator(1)))]), s => [s["n"], 4], (_, m, x) => ((ModuleDict<double>)m)["fc"].Forward(x), s => [s["n"], 3]),
        new("Sequential", "n=3", _ => new Sequential<double>(new Linear<double>(4, 3, generator: new Generator(1)), new ReLU<double>()), s => [s["n"], 4], (_, m, x) => m.Forward(x), s => [s["n"], 3]),
        new("ModuleList", "n=3", _ => new ModuleList<double>([new Linear<double>(4, 3, generator: new Generator(1))]), s => [s["n"], 4], (_, m, x) => ((ModuleList<double>)m)[0].Forward(x), s => [s["n"], 3]),
    ];

    public static IEnumerable<TestCaseData> ModuleCases() =>
        Modules.SelectMany(m => m.Parsed.Names.Select(name => new TestCaseData(m, name).SetArgDisplayNames(m.Type, $"{name}=0")));

    [TestCaseSource(nameof(ModuleCases))]
    public void Module_WithAZeroSizeDim_GivesPyTorchsEmptyResultAndZeroGradients(ModuleCall call, string dim)
    {
        var defaults = call.Parsed;
        var sizes = defaults with { Values = defaults.Values.SetItem(defaults.Names.IndexOf(dim), 0) };
        var module = call.Make(sizes);
        Check(call.Type, call.Throws(sizes), call.Output(sizes), differentiable: true, overEmpty: null, () =>
        {
            var shape = call.Input(sizes);
            var x = Tensor.FromArray(new double[ShapeMath.Numel(shape)], shape, requiresGrad: true);
            return (call.Forward(sizes, module, x), [.. call.IndexInput ? [] : new[] { x }, .. module.Parameters()]);
        });
    }

    [Test]
    public void BatchNorm2d_OnAnEmptyBatch_LeavesTheRunningStatisticsAlone()
    {
        // PyTorch returns an empty result and does not update running_mean/running_var from no values.
        var mean = Tensor.FromArray([0.5, -0.25, 1.0], [3]);
        var variance = Tensor.FromArray([2.0, 0.5, 1.5], [3]);
        var y = Tensor.Zeros<double>(0, 3, 4, 4).BatchNorm2d(mean, variance, training: true);
        Assert.That(y.Shape, Is.EqualTo(new[] { 0, 3, 4, 4 }));
        Assert.That(mean.ToArray(), Is.EqualTo(new[] { 0.5, -0.25, 1.0 }));
        Assert.That(variance.ToArray(), Is.EqualTo(new[] { 2.0, 0.5, 1.5 }));

        // One value per channel has no variance: refused, as PyTorch does.
        Assert.That(() => Tensor.Zeros<double>(1, 3, 1, 1).BatchNorm2d(mean, variance, training: true), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public void Modules_CoverEveryModuleType()
    {
        var types = typeof(Module<>).Assembly.GetExportedTypes()
            .Where(t => !t.IsAbstract && t.IsGenericTypeDefinition && IsModule(t))
            .Select(t => t.Name[..t.Name.IndexOf('`')]);
        Assert.That(types.Except(Modules.Select(m => m.Type)), Is.Empty, "module types without a ModuleCall");
    }

    private static bool IsModule(Type? t) =>
        t is not null && ((t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Module<>)) || IsModule(t.BaseType));

    /// <summary>
    /// Runs <paramref name="run"/> and checks PyTorch's answer: the error where it raises, else the shape, the
    /// value over an empty dim, and gradients of the inputs' shapes, all zero when the result is empty.
    /// </summary>
    private static void Check(string label, string? pytorchError, int[] shape, bool differentiable, double? overEmpty, Func<(Tensor<double> Y, Tensor<double>[] Inputs)> run)
    {
        if (pytorchError is not null)
        {
            Assert.That(() => run(), Throws.InstanceOf<ArgumentException>(), $"{label}: PyTorch raises \"{pytorchError}\"");
            return;
        }

        var (y, inputs) = run();
        Assert.That(y.Shape, Is.EqualTo(shape), $"{label}: the result's shape");
        var values = y.ToArray();
        if (overEmpty is { } identity && inputs.Any(x => x.Numel == 0))
        {
            Assert.That(values, Is.All.EqualTo(identity), $"{label}: the value over an empty dim");
        }

        if (!differentiable)
        {
            return;
        }

        y.Sum().Backward();
        foreach (var (x, i) in inputs.Select((x, i) => (x, i)))
        {
            Assert.That(x.Grad, Is.Not.Null, $"{label}: input {i} {ShapeText(x.Shape)} has no gradient");
            Assert.That(x.Grad!.Shape, Is.EqualTo(x.Shape), $"{label}: the gradient of input {i}");
            if (y.Numel == 0)
            {
                Assert.That(x.Grad.ToArray(), Is.All.EqualTo(0.0), $"{label}: the gradient of input {i} {ShapeText(x.Shape)} through an empty result");
            }
        }
    }

    private static string ShapeText(int[] shape) => $"[{string.Join(", ", shape)}]";
}
