using System.Numerics;
using System.Runtime.Intrinsics;
using Autograd;
using Autograd.Kernels;
using Autograd.Testing;

namespace Autograd.Tests.HigherOrder;

/// <summary>
/// Second order through every fast kernel. The generated second-order properties (<see cref="SecondOrderTests"/>)
/// draw small geometries, which the planner sends down only some of the convolution strategies; here each
/// strategy (<see cref="ConvPlan.Choose{T}"/>, pinned by assertion as <c>ConvPlanTests</c> does) gets
/// GradGradCheck cases of its own, with every input that can require grad (input, weight, bias, and the
/// incoming gradient v of the first backward), all at once and one at a time (so the VJPs' "is this gradient
/// wanted" branches are reached at second order too). A create-graph backward of Conv2d records
/// ConvTranspose2d (dX) and Conv2dWeightGradient (dW), whose own VJPs run the same strategy's passes again,
/// so a wrong double backward on any path fails here. The same for max-pool (the byte- and int-index
/// kernels, padding, dilation, ceil mode), average pooling and attention (no mask, a mask, causal).
/// </summary>
/// <remarks>
/// Small sizes and few cases by default (a few seconds); <c>AUTOGRAD_SECOND_ORDER_PATHS=1</c> adds more seeds
/// per path. Winograd needs 64 channels each way: its cases are checked in fast mode (random projections).
/// </remarks>
[Category("GradProperty")]
[NonParallelizable] // Flips the process-wide path switches of ConvPlanTests.
public class KernelPathSecondOrderTests
{
    private static bool Long => Environment.GetEnvironmentVariable("AUTOGRAD_SECOND_ORDER_PATHS") == "1";

    private static int[] Seeds => Long ? [1, 2, 3, 4, 5] : [1];

    /// <summary>Which inputs require grad: all, or each alone.</summary>
    private static readonly (string Name, bool X, bool W, bool B)[] Wanted =
        [("x, w, b", true, true, true), ("x", true, false, false), ("w", false, true, false), ("b", false, false, true)];

    /// <summary>One convolution geometry per strategy, with the strategy its forward and its dX pass take.</summary>
    public sealed record ConvPath(string Name, int N, int C, int H, int W, int F, int K, int Stride, int Padding, int Dilation, int Groups, bool WideOff, Type Forward, Type InputGradient, bool PhaseOff = false)
    {
        public override string ToString() => Name;
    }

    public static IEnumerable<ConvPath> ConvPaths()
    {
        // The input itself as columns (1×1, stride 1, unpadded, contiguous); dX on the geometry's strategy.
        yield return new("direct columns", 2, 3, 4, 4, 2, 1, 1, 0, 1, 1, false, typeof(DirectColumns<double>), typeof(WideRows<double>));
        yield return new("wide rows", 2, 2, 5, 5, 3, 3, 1, 1, 1, 1, false, typeof(WideRows<double>), typeof(WideRows<double>));
        yield return new("wide rows, groups 2", 1, 4, 5, 5, 4, 3, 1, 1, 1, 2, false, typeof(WideRows<double>), typeof(WideRows<double>));
        yield return new("shallow columns, stride 2", 2, 2, 7, 7, 3, 3, 2, 1, 1, 1, false, typeof(ShallowColumns<double>), typeof(ShallowColumns<double>));
        yield return new("shallow columns, dilation 2", 1, 2, 7, 7, 2, 3, 1, 0, 2, 1, true, typeof(ShallowColumns<double>), typeof(ShallowColumns<double>));
        yield return new("phase columns, stride 2", 2, 4, 7, 7, 3, 3, 2, 1, 1, 1, false, typeof(PhaseColumns<double>), typeof(PhaseColumns<double>));
        yield return new("phase columns, stride 3, groups 2, dilation 2", 1, 8, 9, 9, 4, 3, 3, 1, 2, 2, false, typeof(PhaseColumns<double>), typeof(PhaseColumns<double>));
        yield return new("packed columns, stride 2", 2, 4, 7, 7, 3, 3, 2, 1, 1, 1, false, typeof(PackedColumns<double>), typeof(PackedColumns<double>), PhaseOff: true);
        yield return new("packed columns, groups 2, dilation 2", 1, 8, 7, 7, 4, 3, 1, 1, 2, 2, true, typeof(PackedColumns<double>), typeof(PackedColumns<double>));
        yield return new("Winograd", 1, 64, 4, 4, 64, 3, 1, 1, 1, 1, true, typeof(WinogradStrategy<double>), typeof(WinogradStrategy<double>));
    }

    public static IEnumerable<TestCaseData> ConvCases() =>
        from path in ConvPaths()
        from wanted in Wanted
        from seed in Seeds
        select new TestCaseData(path, wanted.X, wanted.W, wanted.B, seed).SetArgDisplayNames(path.Name, wanted.Name, $"seed {seed}");

    [SetUp]
    public void VectorHardware() =>
        Assume.That(Vector256.IsHardwareAccelerated && Vector.IsHardwareAccelerated, "wide rows, Winograd and the shallow kernel need vector hardware");

    [TestCaseSource(nameof(ConvCases))]
    public void Conv2d_OnEachStrategy_SecondOrderMatchesFiniteDifferences(ConvPath path, bool needX, bool needW, bool needB, int seed)
    {
        WideConv.Disabled = path.WideOff;
        PhasePlanes.Disabled = path.PhaseOff;
        try
        {
            var g = Geometry(path);
            Assert.That(ConvPlan.Choose(g, Tensor.Zeros<double>(path.N, path.C, path.H, path.W), forwardOnly: true), Is.TypeOf(path.Forward), "the forward's strategy");
            Assert.That(ConvPlan.Choose<double>(g, null), Is.TypeOf(path.InputGradient), "the dX pass's strategy");
            var x = Leaf([path.N, path.C, path.H, path.W], seed, needX);
            var w = Leaf([path.F, path.C / path.Groups, path.K, path.K], seed + 100, needW);
            var b = Leaf([path.F], seed + 200, needB);
            var winograd = path.Forward == typeof(WinogradStrategy<double>);
            var options = new GradCheckOptions { Seed = (ulong)seed, FastMode = winograd, Projections = 2, Checks = winograd ? VjpChecks.None : VjpChecks.All };
            var result = GradGradCheck.Check(
                xs => xs[0].Conv2d(xs[1], xs[2], stride: path.Stride, padding: path.Padding, dilation: path.Dilation, groups: path.Groups),
                [x, w, b],
                options: options);
            Assert.That(result.Passed, Is.True, result.Message);
        }
        finally
        {
            WideConv.Disabled = false;
            PhasePlanes.Disabled = false;
        }
    }

    /// <summary>
    /// The transposed convolution runs the same strategies' dX pass forward and their Y pass in its VJP (Winograd's
    /// and the direct columns' passes are reached by the Conv2d cases; ConvTranspose2d's own geometry takes another).
    /// </summary>
    public static IEnumerable<TestCaseData> TransposedCases() =>
        from path in ConvPaths()
        where path.Forward != typeof(WinogradStrategy<double>) && path.Forward != typeof(DirectColumns<double>)
        from wanted in Wanted
        from seed in Seeds
        select new TestCaseData(path, wanted.X, wanted.W, wanted.B, seed).SetArgDisplayNames(path.Name, wanted.Name, $"seed {seed}");

    [TestCaseSource(nameof(TransposedCases))]
    public void ConvTranspose2d_OnEachStrategy_SecondOrderMatchesFiniteDifferences(ConvPath path, bool needX, bool needW, bool needB, int seed)
    {
        WideConv.Disabled = path.WideOff;
        PhasePlanes.Disabled = path.PhaseOff;
        try
        {
            // ConvTranspose2d(z, W) with stride s, padding p is the adjoint of the conv with the same geometry:
            // its input has the conv's output shape.
            var g = Geometry(path);
            var z = Leaf([path.N, path.F, g.OH, g.OW], seed, needX);
            var w = Leaf([path.F, path.C / path.Groups, path.K, path.K], seed + 100, needW);
            var b = Leaf([path.C], seed + 200, needB);
            var outputPadding = path.H - (((g.OH - 1) * path.Stride) - (2 * path.Padding) + (path.Dilation * (path.K - 1)) + 1);
            var result = GradGradCheck.Check(
                xs => xs[0].ConvTranspose2d(xs[1], xs[2], stride: path.Stride, padding: path.Padding, outputPadding: outputPadding, groups: path.Groups, dilation: path.Dilation),
                [z, w, b],
                options: new GradCheckOptions { Seed = (ulong)seed });
            Assert.That(result.Passed, Is.True, result.Message);
        }
        finally
        {
            WideConv.Disabled = false;
            PhasePlanes.Disabled = false;
        }
    }

    /// <summary>Max-pool's kernels (for double): byte tap numbers on the vector rows, int tap numbers (256+ taps), padding, dilation, ceil mode.</summary>
    public static IEnumerable<TestCaseData> PoolCases()
    {
        var paths = new (string Name, int[] Shape, int Kernel, int Stride, int Padding, int Dilation, bool Ceil)[]
        {
            ("2×2 stride 2", [2, 2, 6, 6], 2, 2, 0, 1, false),
            ("3×3 stride 2 padded", [1, 2, 7, 9], 3, 2, 1, 1, false),
            ("3×3 dilation 2", [1, 2, 7, 7], 3, 1, 0, 2, false),
            ("2×2 stride 2 ceil mode", [1, 2, 5, 5], 2, 2, 0, 1, true),
            ("16×16 (int tap numbers)", [1, 1, 17, 17], 16, 1, 0, 1, false),
        };
        return from p in paths from seed in Seeds select new TestCaseData(p.Name, p.Shape, p.Kernel, p.Stride, p.Padding, p.Dilation, p.Ceil, seed).SetArgDisplayNames(p.Name, $"seed {seed}");
    }

    [TestCaseSource(nameof(PoolCases))]
    public void MaxPool2d_OnEachKernel_SecondOrderMatchesFiniteDifferences(string name, int[] shape, int kernel, int stride, int padding, int dilation, bool ceil, int seed)
    {
        _ = name;

        // Distinct values, so that no tie sits within finite-difference reach of another.
        var x = Leaf(shape, seed, true, distinct: true);
        var result = GradGradCheck.Check(xs => xs[0].MaxPool2d(kernel, stride, padding, dilation, ceil), [x], options: new GradCheckOptions { Seed = (ulong)seed });
        Assert.That(result.Passed, Is.True, result.Message);
    }

    [TestCaseSource(nameof(PoolCases))]
    public void AvgPool2d_OnEachGeometry_SecondOrderMatchesFiniteDifferences(string name, int[] shape, int kernel, int stride, int padding, int dilation, bool ceil, int seed)
    {
        _ = (name, dilation);
        var x = Leaf(shape, seed, true);
        var result = GradGradCheck.Check(xs => xs[0].AvgPool2d(kernel, stride, Math.Min(padding, kernel / 2), ceil, countIncludePad: padding == 0), [x], options: new GradCheckOptions { Seed = (ulong)seed });
        Assert.That(result.Passed, Is.True, result.Message);
        var adaptive = GradGradCheck.Check(xs => xs[0].AdaptiveAvgPool2d((3, 2)), [x], options: new GradCheckOptions { Seed = (ulong)seed });
        Assert.That(adaptive.Passed, Is.True, adaptive.Message);
    }

    public static IEnumerable<TestCaseData> AttentionCases() =>
        from kind in new[] { "none", "mask", "causal" }
        from wanted in new[] { "q, k, v", "q", "k", "v" }
        from seed in Seeds
        select new TestCaseData(kind, wanted, seed).SetArgDisplayNames(kind, wanted, $"seed {seed}");

    [TestCaseSource(nameof(AttentionCases))]
    public void ScaledDotProductAttention_OnEachMaskKind_SecondOrderMatchesFiniteDifferences(string kind, string wanted, int seed)
    {
        var q = Leaf([2, 3, 2], seed, wanted.Contains('q'));
        var k = Leaf([2, 4, 2], seed + 100, wanted.Contains('k'));
        var v = Leaf([2, 4, 3], seed + 200, wanted.Contains('v'));
        var mask = kind == "mask" ? Tensor.FromArray([1.0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1], [3, 4]) : null;
        var result = GradGradCheck.Check(
            xs => Tensor.ScaledDotProductAttention(xs[0], xs[1], xs[2], attnMask: mask, isCausal: kind == "causal"),
            [q, k, v],
            options: new GradCheckOptions { Seed = (ulong)seed });
        Assert.That(result.Passed, Is.True, result.Message);
    }

    /// <summary>
    /// The backward ops' own VJPs at second order: each function returns a first-order gradient (recorded with
    /// createGraph), so GradGradCheck differentiates the VJP of that gradient op twice: the routing ops'
    /// scatter and its gather (IndexSelect, Gather, Embedding, MaxPool2d: "…BackwardBackward"), and Conv2d's
    /// weight-gradient op (Conv2dWeightGradient) with its ConvTranspose2d and Conv2d VJPs.
    /// </summary>
    public static IEnumerable<TestCaseData> BackwardOps()
    {
        var rows = new[] { 2, 0, 2, 1 };
        var index = IndexTensor.FromArray([0, 2, 2, 1, 1, 0], [2, 3]);
        var tokens = IndexTensor.FromArray([1, 0, 1, 2], [2, 2]);
        yield return Backward("IndexSelect", [3, 2], x => x.IndexSelect(0, rows));
        yield return Backward("Gather", [2, 3], x => x.Gather(1, index));
        yield return Backward("Embedding", [3, 2], x => x.Embedding(tokens));
        yield return Backward("MaxPool2d", [1, 1, 4, 4], x => x.MaxPool2d(2), distinct: true);
        var input = Leaf([1, 2, 5, 5], 9, false);
        yield return Backward("Conv2d weight gradient", [2, 2, 3, 3], w => input.Conv2d(w, padding: 1));
    }

    private static TestCaseData Backward(string name, int[] shape, Func<Tensor<double>, Tensor<double>> op, bool distinct = false) =>
        new TestCaseData(shape, op, distinct).SetArgDisplayNames(name);

    [TestCaseSource(nameof(BackwardOps))]
    public void BackwardOp_OfAFirstOrderGradient_SecondOrderMatchesFiniteDifferences(int[] shape, Func<Tensor<double>, Tensor<double>> op, bool distinct)
    {
        var x = Leaf(shape, 3, true, distinct);
        var y0 = op(x);
        var v = Leaf(y0.Shape, 4, true);

        // h(x, v) = d⟨v ⊙ op(x), op(x)⟩/dx: the gradient op (a scatter, or dW) applied to a cotangent that
        // depends on x and v, so its own VJP and that VJP's VJP both carry weight.
        var result = GradGradCheck.Check(
            xs =>
            {
                // Recorded even while GradCheck evaluates h at perturbed points without grad.
                using (Tensor.EnableGrad())
                {
                    var y = op(xs[0]);
                    return Tensor.Grad([y], [xs[0]], [xs[1] * y], createGraph: true)[0]!;
                }
            },
            [x, v],
            options: new GradCheckOptions { Seed = 3 });
        Assert.That(result.Passed, Is.True, result.Message);
    }

    private static Tensor<double> Leaf(int[] shape, int seed, bool requiresGrad, bool distinct = false)
    {
        var n = ShapeMath.Numel(shape);
        var generator = new Generator((ulong)seed);
        var values = distinct
            ? [.. Enumerable.Range(0, n).Select(i => (double)i / n).OrderBy(_ => generator.NextDouble())]
            : Enumerable.Range(0, n).Select(_ => (2 * generator.NextDouble()) - 1).ToArray();
        return Tensor.FromArray(values, shape, requiresGrad);
    }

    private static ConvGeometry Geometry(ConvPath p)
    {
        var oh = Window.OutputSize(p.H + 2 * p.Padding, p.K, p.Stride, p.Dilation);
        var ow = Window.OutputSize(p.W + 2 * p.Padding, p.K, p.Stride, p.Dilation);
        return new ConvGeometry(p.N, p.C, p.H, p.W, p.F, p.Groups, p.K, p.K, new Size2(p.Stride, p.Stride), new Size2(p.Dilation, p.Dilation), p.Padding, p.Padding, p.Padding, p.Padding, oh, ow);
    }
}
