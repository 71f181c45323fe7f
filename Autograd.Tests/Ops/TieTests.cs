using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Tests.Ops;

/// <summary>
/// The subgradient rule at ties, as a generated property: with integer values in a small range nearly
/// every window has equal maxima, and the whole gradient of each output must go to exactly the first
/// maximum in row-major order (PyTorch's rule for max_pool2d and max(dim)), nothing to the others.
/// Finite differences cannot check this (a tie is a kink), so the property compares the VJP with the
/// rule written out directly.
/// </summary>
[Category("GradProperty")]
public class TieTests
{
    // Views whose leaf gradient, seen through the same view, is the gradient of each element the op read
    // (an expanded input would sum its copies).
    private static readonly ViewKind[] s_elementwiseViews = [ViewKind.Contiguous, ViewKind.Transposed, ViewKind.Sliced];

    /// <summary>A cotangent with distinct values, so the test sees which output's gradient went where.</summary>
    private static Tensor<double> DistinctCotangent(int[] shape, ulong seed)
    {
        var n = ShapeMath.Numel(shape);
        var g = new Generator(seed);
        return Tensor.FromArray(Enumerable.Range(0, n).Select(i => i + 1 + g.NextDouble() / 2).ToArray(), shape);
    }

    private static void AssertGradient(double[] actual, double[] expected, string what)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            if (actual[i] != expected[i])
            {
                throw new InvalidOperationException(
                    $"{what}: gradient element {i} is {actual[i]}, the first-maximum rule gives {expected[i]} "
                    + $"(gradient [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]).");
            }
        }
    }

    [Test]
    public void MaxPool2d_TiesSendTheWholeGradientToTheFirstMaximum() =>
        GradProperty.Check(Prop.ForAll(Arbitraries.Ties(Arbitraries.MaxPool2d(views: s_elementwiseViews)), c =>
        {
            var sample = c.Inputs[0];
            var leaf = sample.MakeLeaf();
            var x = sample.ApplyView(leaf);
            var y = x.MaxPool2d((c.KernelH, c.KernelW), c.Stride, c.Padding, c.Dilation, c.CeilMode);
            var g = DistinctCotangent(y.Shape, c.Seed);
            y.Backward(g);
            var expected = FirstMaximumPool(x.ToArray(), c, g.ToArray());
            AssertGradient(sample.ApplyView(leaf.Grad!).ToArray(), expected, $"MaxPool2d {c}");
        }));

    [Test]
    public void Max_TiesSendTheWholeGradientToTheFirstMaximum() =>
        GradProperty.Check(Prop.ForAll(
            Arbitraries.Ties(Arbitraries.Tensor(minRank: 1, maxRank: 3, maxDim: 4, views: s_elementwiseViews)),
            Arb.From(Gen.Choose(0, 7)),
            Arb.From(Gen.Elements(false, true)),
            (c, mask, keepDim) =>
            {
                var sample = c.Inputs[0];
                var leaf = sample.MakeLeaf();
                var x = sample.ApplyView(leaf);
                var dims = Enumerable.Range(0, x.Rank).Where(d => (mask & (1 << d)) != 0).ToArray();
                var y = x.Max(dims, keepDim);
                var g = DistinctCotangent(y.Shape, c.Seed);
                y.Backward(g);
                var expected = FirstMaximumReduce(x.ToArray(), x.Shape, dims, g.ToArray());
                AssertGradient(sample.ApplyView(leaf.Grad!).ToArray(), expected, $"Max(dims [{string.Join(", ", dims)}], keepDim {keepDim}) of {c}");
            }));

    /// <summary>dX of max-pooling by the rule: each window's gradient to its first maximum in (kh, kw) order.</summary>
    private static double[] FirstMaximumPool(double[] x, MaxPool2dCase c, double[] g)
    {
        var dx = new double[x.Length];
        var o = 0;
        for (var plane = 0; plane < c.N * c.C; plane++)
        {
            for (var oh = 0; oh < c.OutputH; oh++)
            {
                for (var ow = 0; ow < c.OutputW; ow++, o++)
                {
                    var (best, arg) = (double.NegativeInfinity, -1);
                    for (var kh = 0; kh < c.KernelH; kh++)
                    {
                        var ih = (oh * c.Stride) - c.Padding + (kh * c.Dilation);
                        for (var kw = 0; kw < c.KernelW && ih >= 0 && ih < c.H; kw++)
                        {
                            var iw = (ow * c.Stride) - c.Padding + (kw * c.Dilation);
                            var at = (plane * c.H + ih) * c.W + iw;
                            if (iw >= 0 && iw < c.W && x[at] > best)
                            {
                                (best, arg) = (x[at], at);
                            }
                        }
                    }

                    dx[arg] += g[o];
                }
            }
        }

        return dx;
    }

    /// <summary>dX of max over <paramref name="dims"/> by the rule: each output's gradient to the first maximum in row-major order.</summary>
    private static double[] FirstMaximumReduce(double[] x, int[] shape, int[] dims, double[] g)
    {
        var reduced = dims.Length == 0 ? Enumerable.Range(0, shape.Length).ToArray() : dims;
        var outStrides = new int[shape.Length];
        for (int d = shape.Length - 1, stride = 1; d >= 0; d--)
        {
            if (!reduced.Contains(d))
            {
                outStrides[d] = stride;
                stride *= shape[d];
            }
        }

        var best = Enumerable.Repeat(double.NegativeInfinity, g.Length).ToArray();
        var arg = new int[g.Length];
        var index = new int[shape.Length];
        for (var i = 0; i < x.Length; i++)
        {
            var o = 0;
            for (var d = 0; d < shape.Length; d++)
            {
                o += index[d] * outStrides[d];
            }

            if (x[i] > best[o])
            {
                (best[o], arg[o]) = (x[i], i);
            }

            for (var d = shape.Length - 1; d >= 0 && ++index[d] == shape[d]; d--)
            {
                index[d] = 0;
            }
        }

        var dx = new double[x.Length];
        for (var o = 0; o < g.Length; o++)
        {
            dx[arg[o]] += g[o];
        }

        return dx;
    }
}
