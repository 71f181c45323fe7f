using Autograd;
using Autograd.Kernels;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

/// <summary>AvgPool2d and AdaptiveAvgPool2d: gradients, PyTorch's window and bin rules written out, errors.</summary>
public class AvgPoolTests
{
    private static Size2? StrideOf(Case c) => c["sh"] == 0 ? null : new Size2(c["sh"], c["sw"]);

    [Test]
    [Category("GradProperty")]
    public void AvgPool2d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec()
                .Int("n", 1, 2).Int("c", 1, 2).Int("h", 1, 6).Int("w", 1, 6)
                .Int("kh", 1, 3).Int("kw", 1, 3).Int("sh", 0, 3).Int("sw", 1, 3)
                .Int("ph", 0, 1).Int("pw", 0, 1).Int("ceil", 0, 1).Int("includePad", 0, 1).Int("divisor", 0, 3).Int("unbatched", 0, 1)
                .Views(1)
                .Where(c => c["ph"] <= c["kh"] / 2 && c["pw"] <= c["kw"] / 2)
                .Where(c =>
                {
                    var s = StrideOf(c) ?? new Size2(c["kh"], c["kw"]);
                    return PoolingShape.OutputSize(c["h"], c["kh"], s.H, c["ph"], 1, c["ceil"] == 1) >= 1
                        && PoolingShape.OutputSize(c["w"], c["kw"], s.W, c["pw"], 1, c["ceil"] == 1) >= 1;
                }),
            c =>
            {
                int[] shape = c["unbatched"] == 1 ? [c["c"], c["h"], c["w"]] : [c["n"], c["c"], c["h"], c["w"]];
                var (x, view) = Inputs.Make(shape, c.View(0), c.Generator());
                var (kernel, stride, padding) = (new Size2(c["kh"], c["kw"]), StrideOf(c), new Size2(c["ph"], c["pw"]));
                var (ceil, includePad, divisor) = (c["ceil"] == 1, c["includePad"] == 1, c["divisor"] == 0 ? (int?)null : c["divisor"]);
                return GradCheck.Check(t => view(t[0]).AvgPool2d(kernel, stride, padding, ceil, includePad, divisor), [x]);
            });

    [Test]
    [Category("GradProperty")]
    public void AdaptiveAvgPool2d_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(
            new CaseSpec().Int("n", 1, 2).Int("c", 1, 2).Int("h", 1, 6).Int("w", 1, 6).Int("oh", 1, 7).Int("ow", 1, 7).Int("unbatched", 0, 1).Views(1),
            c =>
            {
                int[] shape = c["unbatched"] == 1 ? [c["c"], c["h"], c["w"]] : [c["n"], c["c"], c["h"], c["w"]];
                var (x, view) = Inputs.Make(shape, c.View(0), c.Generator());
                var output = new Size2(c["oh"], c["ow"]);
                return GradCheck.Check(t => view(t[0]).AdaptiveAvgPool2d(output), [x]);
            });

    // ---- Values ----

    [Test]
    public void AdaptiveAvgPool2d_FiveToThree_UsesFloorCeilBins()
    {
        // Bins of 5 → 3: [⌊0·5/3⌋, ⌈5/3⌉) = [0, 2), [⌊5/3⌋, ⌈10/3⌉) = [1, 4), [⌊10/3⌋, 5) = [3, 5).
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5 }, [1, 1, 1, 5], requiresGrad: true);
        var y = x.AdaptiveAvgPool2d((1, 3));
        Assert.That(y.Shape, Is.EqualTo(new[] { 1, 1, 1, 3 }));
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 1.5, 3, 4.5 }).Within(1e-15));
        y.Sum().Backward();
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 0.5, 0.5 + 1.0 / 3, 1.0 / 3, 1.0 / 3 + 0.5, 0.5 }).Within(1e-15));

        // Two dimensions, 5 × 4 → 3 × 2 (column bins [0, 2), [2, 4)), against the bins written out.
        var grid = Tensor.Arange(20.0).Reshape(1, 5, 4);
        var pooled = grid.AdaptiveAvgPool2d((3, 2)).ToArray();
        int[][] rows = [[0, 2], [1, 4], [3, 5]];
        int[][] cols = [[0, 2], [2, 4]];
        var expected = rows.SelectMany(r => cols.Select(c =>
            Enumerable.Range(r[0], r[1] - r[0]).SelectMany(h => Enumerable.Range(c[0], c[1] - c[0]).Select(w => 4.0 * h + w)).Average())).ToArray();
        Assert.That(pooled, Is.EqualTo(expected).Within(1e-13));

        // Output larger than the input: bins repeat elements ([0, 1), [0, 2), [1, 2) for 2 → 3).
        Assert.That(Tensor.FromArray(new[] { 2.0, 4.0 }, [1, 1, 2]).AdaptiveAvgPool2d((1, 3)).ToArray(), Is.EqualTo(new[] { 2.0, 3, 4 }));
        Assert.That(AdaptiveAvgPool2dExtensions.Bins(5, 3), Is.EqualTo((new[] { 0, 1, 3 }, new[] { 2, 4, 5 })));
    }

    [Test]
    public void AvgPool2d_PaddingDivisors_MatchPyTorch()
    {
        // X = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], kernel 2, stride 2, padding 1: windows rows {−1, 0} and {1, 2}.
        // countIncludePad: every window divides by 4; otherwise by its taps inside the input (1, 2, 2, 4).
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, [1, 1, 3, 3], requiresGrad: true);
        Assert.That(x.AvgPool2d(2, 2, 1).ToArray(), Is.EqualTo(new[] { 1 / 4.0, 5 / 4.0, 11 / 4.0, 28 / 4.0 }));
        Assert.That(x.AvgPool2d(2, 2, 1, countIncludePad: false).ToArray(), Is.EqualTo(new[] { 1.0, 5 / 2.0, 11 / 2.0, 28 / 4.0 }));
        Assert.That(x.AvgPool2d(2, 2, 1, divisorOverride: 3).ToArray(), Is.EqualTo(new[] { 1 / 3.0, 5 / 3.0, 11 / 3.0, 28 / 3.0 }));

        // Ceil mode, kernel 2, stride 2, no padding, 3 × 3: a last window [2, 4) clipped to [2, 3). PyTorch
        // divides by the window clipped to the (unpadded) input, so countIncludePad makes no difference here.
        Assert.That(x.AvgPool2d(2, 2, ceilMode: true).ToArray(), Is.EqualTo(new[] { 12 / 4.0, 9 / 2.0, 15 / 2.0, 9.0 }));
        Assert.That(x.AvgPool2d(2, 2, ceilMode: true, countIncludePad: false).ToArray(), Is.EqualTo(new[] { 12 / 4.0, 9 / 2.0, 15 / 2.0, 9.0 }));

        // Overlapping windows (stride 1): dX = Σ over the windows holding the element of g / 4.
        var y = x.AvgPool2d(2, stride: 1);
        y.Backward(Tensor.FromArray(new double[] { 1, 2, 3, 4 }, [1, 1, 2, 2]));
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { 1, 3, 2, 4, 10, 6, 3, 7, 4 }.Select(v => v / 4.0).ToArray()));
    }

    [Test]
    public void Spread_IsTheTransposeOfThePool()
    {
        // ⟨P·x, g⟩ = ⟨x, Pᵀ·g⟩ for random pools: the backward kernel is the adjoint of the forward one.
        var gen = new Generator(3);
        for (var trial = 0; trial < 50; trial++)
        {
            var (h, w) = (1 + gen.NextInt(7), 1 + gen.NextInt(7));
            var k = new Size2(1 + gen.NextInt(3), 1 + gen.NextInt(3));
            var s = new Size2(1 + gen.NextInt(3), 1 + gen.NextInt(3));
            var p = new Size2(gen.NextInt(k.H / 2 + 1), gen.NextInt(k.W / 2 + 1));
            var ceil = gen.NextInt(2) == 1;
            if (PoolingShape.OutputSize(h, k.H, s.H, p.H, 1, ceil) < 1 || PoolingShape.OutputSize(w, k.W, s.W, p.W, 1, ceil) < 1)
            {
                continue;
            }

            var x = Tensor.Randn<double>([2, 3, h, w], gen, requiresGrad: true);
            var y = x.AvgPool2d(k, s, p, ceil, gen.NextInt(2) == 1);
            var g = Tensor.Randn<double>(y.Shape, gen);
            y.Backward(g);
            var lhs = y.ToArray().Zip(g.ToArray(), (a, b) => a * b).Sum();
            var rhs = x.ToArray().Zip(x.Grad!.ToArray(), (a, b) => a * b).Sum();
            Assert.That(lhs, Is.EqualTo(rhs).Within(1e-12), $"h={h} w={w} k={k} s={s} p={p} ceil={ceil}");
        }
    }

    // ---- Arguments ----

    [Test]
    public void PoolArguments_AreChecked()
    {
        var x = Tensor.Zeros<float>(1, 2, 4, 4);
        var ex = Assert.Throws<ArgumentException>(() => x.AvgPool2d(2, padding: 2));
        Assert.That(ex!.Message, Does.Contain("AvgPool2d").And.Contain("padding").And.Contain("[1, 2, 4, 4]"));
        ex = Assert.Throws<ArgumentException>(() => x.AvgPool2d(0));
        Assert.That(ex!.Message, Does.Contain("AvgPool2d").And.Contain("kernel"));
        ex = Assert.Throws<ArgumentException>(() => x.AvgPool2d(2, stride: (0, 1)));
        Assert.That(ex!.Message, Does.Contain("AvgPool2d").And.Contain("stride"));
        ex = Assert.Throws<ArgumentException>(() => x.AvgPool2d(5));
        Assert.That(ex!.Message, Does.Contain("AvgPool2d").And.Contain("too small"));
        ex = Assert.Throws<ArgumentException>(() => x.AvgPool2d(2, divisorOverride: 0));
        Assert.That(ex!.Message, Does.Contain("AvgPool2d").And.Contain("divisorOverride"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(4, 4).AvgPool2d(2));
        Assert.That(ex!.Message, Does.Contain("AvgPool2d").And.Contain("[4, 4]"));

        ex = Assert.Throws<ArgumentException>(() => x.AdaptiveAvgPool2d((0, 2)));
        Assert.That(ex!.Message, Does.Contain("AdaptiveAvgPool2d").And.Contain("(0, 2)").And.Contain("[1, 2, 4, 4]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(2, 0, 4).AdaptiveAvgPool2d(2));
        Assert.That(ex!.Message, Does.Contain("AdaptiveAvgPool2d").And.Contain("[2, 0, 4]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(1, 1, 2, 2, 2).AdaptiveAvgPool2d(1));
        Assert.That(ex!.Message, Does.Contain("AdaptiveAvgPool2d").And.Contain("rank 5"));
    }
}
