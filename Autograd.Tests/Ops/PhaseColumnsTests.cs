using System.Numerics;
using System.Runtime.Intrinsics;
using Autograd;
using Autograd.Kernels;
using static Autograd.Tests.Ops.Conv2dTests;

namespace Autograd.Tests.Ops;

/// <summary>
/// Strided convolutions on phase planes (<see cref="PhaseColumns{T}"/>): the input split once into its stride
/// phases, every column row a contiguous copy, the output computed Wq wide and the extra columns dropped.
/// Y, dX and dW against the direct loops, and against the strided gather of packed columns in float.
/// </summary>
[NonParallelizable] // Flips the process-wide path switch.
public class PhaseColumnsTests
{
    [SetUp]
    public void VectorHardware() =>
        Assume.That(Vector256.IsHardwareAccelerated && Vector.IsHardwareAccelerated, "the column paths need vector hardware");

    [Test]
    public void StridedGeometries_MatchDirectLoops()
    {
        // Stride 2 and 3, a stride in one direction only, dilation, groups, uneven padding each way, a padding
        // that is odd on the left (the split's vector loop then starts on the second element), rows long
        // enough for several vector steps, c4's shape on few images; then random strided geometries.
        var g = new Generator(61);
        Config[] fixedConfigs =
        [
            new(2, 1, 8, 6, 9, 9, 3, 3, (2, 2), (1, 1), (1, 1), false),
            new(1, 1, 6, 5, 11, 13, 3, 3, (3, 3), (1, 1), (1, 0), false),
            new(2, 1, 5, 4, 10, 12, 3, 3, (2, 1), (1, 1), (1, 1), false),
            new(1, 1, 5, 4, 10, 12, 3, 3, (1, 2), (1, 1), (0, 1), false),
            new(1, 2, 8, 6, 13, 13, 3, 3, (2, 2), (2, 2), (2, 2), false),
            new(1, 1, 4, 3, 7, 40, 3, 3, (2, 2), (1, 1), (1, 3), false),
            new(1, 1, 4, 3, 7, 41, 3, 3, (2, 2), (1, 1), (0, 2), false),
            new(2, 1, 64, 16, 14, 14, 3, 3, (2, 2), (1, 1), (1, 1), false),
        ];
        var configs = fixedConfigs.Concat(RandomStrided(30, 62)).ToArray();
        foreach (var cfg in configs)
        {
            Assert.That(ConvPlan.Choose<double>(Geometry(cfg), null), Is.TypeOf<PhaseColumns<double>>(), cfg.ToString());
            BothLayoutsMatchDirectLoops(cfg, g, bias: true);
        }
    }

    [Test]
    public void Float_GivesThePackedPathsResult()
    {
        // Float at stride 2 takes the split's and the merge's vector steps (16 input elements at a time), with
        // even and odd left padding, input widths that leave 0 to 15 elements to the scalar tail, and several
        // blocks of columns (c4's channels). The strided gather of packed columns is the reference.
        var g = new Generator(63);
        Config[] configs =
        [
            new(2, 1, 64, 24, 30, 30, 3, 3, (2, 2), (1, 1), (1, 1), false),
            new(1, 1, 8, 8, 9, 49, 3, 3, (2, 2), (1, 1), (0, 0), false),
            new(1, 1, 8, 8, 9, 47, 3, 3, (2, 2), (1, 1), (1, 2), false),
            new(1, 1, 8, 8, 9, 32, 3, 3, (2, 2), (1, 1), (2, 1), false),
            new(1, 2, 16, 6, 12, 63, 4, 4, (2, 2), (1, 1), (1, 1), false),
        ];
        foreach (var cfg in configs)
        {
            Assert.That(ConvPlan.Choose<float>(Geometry(cfg), null), Is.TypeOf<PhaseColumns<float>>(), cfg.ToString());
            var x = Tensor.Randn<float>([cfg.N, cfg.C, cfg.H, cfg.W], g);
            var w = Tensor.Randn<float>([cfg.F, cfg.C / cfg.Groups, cfg.KH, cfg.KW], g);
            var b = Tensor.Randn<float>([cfg.F], g);
            var dy = Tensor.Randn<float>([cfg.N, cfg.F, cfg.OH, cfg.OW], g);
            var phase = Run(cfg, x, w, b, dy);
            PhasePlanes.Disabled = true;
            try
            {
                Assert.That(ConvPlan.Choose<float>(Geometry(cfg), null), Is.TypeOf<PackedColumns<float>>(), cfg.ToString());
                var packed = Run(cfg, x, w, b, dy);
                var tolerance = 2e-5f * cfg.C / cfg.Groups * cfg.KH * cfg.KW;
                Assert.That(phase.Y, Is.EqualTo(packed.Y).Within(tolerance), cfg.ToString());
                Assert.That(phase.DX, Is.EqualTo(packed.DX).Within(tolerance), cfg.ToString());
                Assert.That(phase.DW, Is.EqualTo(packed.DW).Within(tolerance * cfg.N * cfg.OH * cfg.OW / 10), cfg.ToString());
            }
            finally
            {
                PhasePlanes.Disabled = false;
            }
        }
    }

    [Test]
    public void ExtraColumns_ReachNoGradient_EvenAgainstInfinity()
    {
        // 3×3 at stride 2 without padding on 8 columns: OW = 3, the phase planes are Wq = 4 wide, so each output
        // row has one extra column. Its tap kw = 0 reads input column 6, which the true convolution pairs only
        // with kw = 2: an ∞ there must reach dW through kw = 2 alone, not as 0·∞ = NaN through kw = 0. Likewise an
        // ∞ filter tap reaches only the dX elements the true convolution sends it to.
        var cfg = new Config(1, 1, 4, 2, 8, 8, 3, 3, (2, 2), (1, 1), (0, 0), false);
        Assert.That(ConvPlan.Choose<double>(Geometry(cfg), null), Is.TypeOf<PhaseColumns<double>>());
        var g = new Generator(64);

        var x = Tensor.Randn<double>([1, 4, 8, 8], g);
        x[0, 1, 2, 6].Fill(double.PositiveInfinity);
        x.RequiresGrad = true;
        var w = Tensor.Randn<double>([2, 4, 3, 3], g, requiresGrad: true);
        var dy = Tensor.Randn<double>([1, 2, cfg.OH, cfg.OW], g);
        x.Conv2d(w, null, cfg.Stride, cfg.Padding).Backward(dy);
        var (_, dw, _) = DirectBackward(cfg, x.ToArray(), w.ToArray(), dy.ToArray());
        Assert.That(NonFinite(w.Grad!.ToArray()), Is.EqualTo(NonFinite(dw)).And.Not.Empty);

        var x2 = Tensor.Randn<double>([1, 4, 8, 8], g, requiresGrad: true);
        var w2 = Tensor.Randn<double>([2, 4, 3, 3], g).Detach();
        w2[1, 2, 0, 0].Fill(double.PositiveInfinity);
        w2.RequiresGrad = true;
        x2.Conv2d(w2, null, cfg.Stride, cfg.Padding).Backward(dy);
        var (dx2, _, _) = DirectBackward(cfg, x2.ToArray(), w2.ToArray(), dy.ToArray());
        Assert.That(NonFinite(x2.Grad!.ToArray()), Is.EqualTo(NonFinite(dx2)).And.Not.Empty);
    }

    [Test]
    public void Split_ThenMerge_GivesTheInputBack_AndCoversThePadding()
    {
        // Merge is Split's adjoint on the input's own elements: split then merge is the identity, and every
        // element of the planes that stands for padding (or lies past the padded input) is zero.
        foreach (var cfg in new Config[]
        {
            new(2, 1, 3, 3, 9, 37, 3, 3, (2, 2), (1, 1), (1, 1), false),
            new(1, 1, 2, 2, 8, 20, 3, 3, (3, 2), (1, 1), (2, 3), false),
        })
        {
            var geometry = Geometry(cfg);
            var shape = new PhasePlanes.Shape(geometry);
            var x = Tensor.Randn<float>([cfg.N, cfg.C, cfg.H, cfg.W], new Generator(65)) + 10f;
            var planes = Enumerable.Repeat(float.NaN, shape.Length).ToArray();
            var back = new float[x.Numel];
            for (var n = 0; n < cfg.N; n++)
            {
                PhasePlanes.Split(x, geometry, n, 0, planes);
                Assert.That(planes.Count(v => v == 0f), Is.EqualTo(shape.Length - cfg.C * cfg.H * cfg.W), cfg.ToString());
                PhasePlanes.Merge<float>(planes, geometry, n, 0, back);
            }

            Assert.That(back, Is.EqualTo(x.ToArray()), cfg.ToString());
        }
    }

    private static int[] NonFinite(double[] values) => [.. Enumerable.Range(0, values.Length).Where(i => !double.IsFinite(values[i]))];

    private static (float[] Y, float[] DX, float[] DW) Run(Config cfg, Tensor<float> x, Tensor<float> w, Tensor<float> b, Tensor<float> dy)
    {
        var leafX = x.Detach();
        leafX.RequiresGrad = true;
        var leafW = w.Detach();
        leafW.RequiresGrad = true;
        var y = leafX.Conv2d(leafW, b, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups);
        y.Backward(dy);
        return (y.ToArray(), leafX.Grad!.ToArray(), leafW.Grad!.ToArray());
    }

    /// <summary>Random geometries with a stride above 1 and a contraction above the shallow kernel's 32 terms.</summary>
    private static IEnumerable<Config> RandomStrided(int count, int seed)
    {
        var g = new Generator((ulong)seed);
        var made = 0;
        while (made < count)
        {
            var groups = 1 + g.NextInt(2);
            var cfg = new Config(
                N: 1 + g.NextInt(2), Groups: groups, C: groups * (4 + g.NextInt(5)), F: groups * (1 + g.NextInt(4)),
                H: 3 + g.NextInt(12), W: 3 + g.NextInt(12), KH: 2 + g.NextInt(3), KW: 2 + g.NextInt(3),
                Stride: (1 + g.NextInt(3), 2 + g.NextInt(2)), Dilation: (1 + g.NextInt(2), 1 + g.NextInt(2)),
                Pad: (g.NextInt(3), g.NextInt(3)), Same: false);
            if (g.NextInt(2) == 0)
            {
                cfg = cfg with { Stride = (cfg.Stride.W, cfg.Stride.H) };
            }

            if (cfg.OH >= 1 && cfg.OW >= 1 && PhasePlanes.Applies<double>(Geometry(cfg)))
            {
                made++;
                yield return cfg;
            }
        }
    }

    private static ConvGeometry Geometry(Config cfg) =>
        new(cfg.N, cfg.C, cfg.H, cfg.W, cfg.F, cfg.Groups, cfg.KH, cfg.KW, new Size2(cfg.Stride.H, cfg.Stride.W), new Size2(cfg.Dilation.H, cfg.Dilation.W),
            cfg.Pads.Top, cfg.Pads.Bottom, cfg.Pads.Left, cfg.Pads.Right, cfg.OH, cfg.OW);
}
