using Autograd;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

[Category("GradProperty")]
public class MatMulTests
{
    /// <summary>
    /// Operand ranks 1..4, m/k/n, and up to two batch dims each of which may be 1 in either operand
    /// (broadcast) — every case PyTorch's matmul accepts.
    /// </summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("rankA", 1, 4).Int("rankB", 1, 4)
        .Int("m", 1, 3).Int("k", 1, 3).Int("n", 1, 3)
        .Int("b0", 1, 2).Int("b1", 1, 3)
        .Int("onesA", 0, 3).Int("onesB", 0, 3)
        .Views(2);

    internal static (int[] A, int[] B) Shapes(Case c)
    {
        int[] batch = [c["b0"], c["b1"]];
        int[] a = c["rankA"] == 1 ? [c["k"]] : [.. TestData.Suffix(batch, c["rankA"] - 2, c["onesA"]), c["m"], c["k"]];
        int[] b = c["rankB"] == 1 ? [c["k"]] : [.. TestData.Suffix(batch, c["rankB"] - 2, c["onesB"]), c["k"], c["n"]];
        return (a, b);
    }

    [Test]
    public void MatMul_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(), c =>
        {
            var (sa, sb) = Shapes(c);
            var g = c.Generator();
            var (a, va) = Inputs.Make(sa, c.View(0), g);
            var (b, vb) = Inputs.Make(sb, c.View(1), g);
            return GradCheck.Check(x => va(x[0]).MatMul(vb(x[1])), [a, b]);
        });

    [Test]
    public void Forward_MatchesNaiveProductOverBroadcastBatches()
    {
        var g = new Generator(7);
        foreach (var (sa, sb, expected) in new (int[], int[], int[])[]
        {
            ([3], [3], []),
            ([2, 3], [3], [2]),
            ([3], [3, 4], [4]),
            ([2, 3], [3, 4], [2, 4]),
            ([5, 2, 3], [3, 4], [5, 2, 4]),
            ([2, 1, 2, 3], [4, 3, 2], [2, 4, 2, 2]),
            ([3], [2, 3, 4], [2, 4]),
            ([2, 2, 3], [3], [2, 2]),
        })
        {
            var a = Tensor.Randn<double>(sa, g);
            var b = Tensor.Randn<double>(sb, g);
            var c = a.MatMul(b);
            Assert.That(c.Shape, Is.EqualTo(expected), $"{ShapeMath.Format(sa)} @ {ShapeMath.Format(sb)}");
            Assert.That(c.ToArray(), Is.EqualTo(Naive(a, b)).Within(1e-12), $"{ShapeMath.Format(sa)} @ {ShapeMath.Format(sb)}");
        }
    }

    [Test]
    public void TransposedAndSlicedOperands_AreReadInPlace()
    {
        var g = new Generator(3);
        var a = Tensor.Randn<float>([6, 5], g);
        var b = Tensor.Randn<float>([7, 6], g);
        var at = a.Transpose(0, 1);                 // [5, 6], column-major
        var bs = b.Slice(0, 1, 7).Transpose(0, 1);  // [6, 6], offset 6, transposed
        var expected = Naive(at.Contiguous(), bs.Contiguous());
        Assert.That(at.MatMul(bs).ToArray().Select(v => (double)v), Is.EqualTo(expected).Within(1e-4));
    }

    [Test]
    public void AffineLayer_MatchesSeedGradients()
    {
        // Seed 000: Y = XW + b, dL/dY = Z  =>  dW = XᵀZ, dX = ZWᵀ, db = column sums of Z.
        var x = Tensor.FromArray(new[] { 1.0, 2.0, 3.0, 4.0, 5.0, 6.0 }, [2, 3], requiresGrad: true);
        var w = Tensor.FromArray(new[] { 1.0, -1.0, 0.5, 2.0, -2.0, 0.0 }, [3, 2], requiresGrad: true);
        var b = Tensor.FromArray(new[] { 0.1, 0.2 }, [2], requiresGrad: true);
        var z = Tensor.FromArray(new[] { 1.0, 2.0, 3.0, 4.0 }, [2, 2]);
        var y = x.MatMul(w) + b;
        Assert.That(y.ToArray(), Is.EqualTo(new[] { -3.9, 3.2, -5.4, 6.2 }).Within(1e-12));
        y.Backward(z);
        // XᵀZ = [[1,4],[2,5],[3,6]]·[[1,2],[3,4]]
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 13.0, 18.0, 17.0, 24.0, 21.0, 30.0 }).Within(1e-12));
        // ZWᵀ = [[1,2],[3,4]]·[[1,0.5,-2],[-1,2,0]]
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(new[] { -1.0, 4.5, -2.0, -1.0, 9.5, -6.0 }).Within(1e-12));
        Assert.That(b.Grad!.ToArray(), Is.EqualTo(new[] { 4.0, 6.0 }).Within(1e-12));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void SharedMatrix_GradientIsTheSumOverBatchElements(bool transposedWeight)
    {
        // A Linear over [batch, m, k]: y = x·Wᵀ with W [n, k]; dW = Σ_i dY_iᵀ·X_i, dX = dY·W. The VJP forms dB as one
        // product over the folded rows (and, for a transposed B, in W's layout); compare with the per-batch sum in double.
        var g = new Generator(11);
        var x = Tensor.Randn<double>([3, 4, 5], g, requiresGrad: true);
        var w = Tensor.Randn<double>(transposedWeight ? [6, 5] : [5, 6], g, requiresGrad: true);
        var dy = Tensor.Randn<double>([3, 4, 6], g);
        x.MatMul(transposedWeight ? w.Transpose(0, 1) : w).Backward(dy);
        var expected = new double[30];
        for (var i = 0; i < 3; i++)
        {
            var xi = x.Detach().Select(0, i);
            var di = dy.Select(0, i);
            var part = transposedWeight ? di.Transpose(0, 1).MatMul(xi) : xi.Transpose(0, 1).MatMul(di);
            var values = part.ToArray();
            for (var j = 0; j < expected.Length; j++)
            {
                expected[j] += values[j];
            }
        }

        Assert.That(w.Grad!.Shape, Is.EqualTo(w.Shape));
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(expected).Within(1e-12));
        var wm = transposedWeight ? w.Detach() : w.Detach().Transpose(0, 1);
        Assert.That(x.Grad!.ToArray(), Is.EqualTo(dy.MatMul(wm).ToArray()).Within(1e-12));
    }

    [Test]
    public void BadShapes_NameOpAndShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(2, 3).MatMul(Tensor.Zeros<float>(4, 5)));
        Assert.That(ex!.Message, Does.Contain("MatMul").And.Contain("[2, 3]").And.Contain("[4, 5]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<float>(2, 2, 3).MatMul(Tensor.Zeros<float>(3, 3, 4)));
        Assert.That(ex!.Message, Does.Contain("MatMul").And.Contain("[2]").And.Contain("[3]"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Scalar(1f).MatMul(Tensor.Zeros<float>(3)));
        Assert.That(ex!.Message, Does.Contain("MatMul").And.Contain("[]"));
    }

    /// <summary>Row-major reference product with PyTorch's promotion and broadcasting, in double.</summary>
    internal static double[] Naive<T>(Tensor<T> a, Tensor<T> b)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var sa = a.Rank == 1 ? [1, a.Shape[0]] : a.Shape;
        var sb = b.Rank == 1 ? [b.Shape[0], 1] : b.Shape;
        var batch = ShapeMath.Broadcast(sa[..^2], sb[..^2], "Naive");
        int m = sa[^2], k = sa[^1], n = sb[^1];
        var av = a.ToArray();
        var bv = b.ToArray();
        var count = ShapeMath.Numel(batch);
        var result = new double[count * m * n];
        for (var bi = 0; bi < count; bi++)
        {
            var aBase = BatchOffset(bi, batch, sa[..^2]) * m * k;
            var bBase = BatchOffset(bi, batch, sb[..^2]) * k * n;
            for (var i = 0; i < m; i++)
            {
                for (var j = 0; j < n; j++)
                {
                    double s = 0;
                    for (var p = 0; p < k; p++)
                    {
                        s += double.CreateChecked(av[aBase + i * k + p]) * double.CreateChecked(bv[bBase + p * n + j]);
                    }

                    result[(bi * m + i) * n + j] = s;
                }
            }
        }

        return result;
    }

    private static int BatchOffset(int flat, int[] batch, int[] own)
    {
        var offset = 0;
        var scale = 1;
        for (int d = batch.Length - 1, o = own.Length - 1; d >= 0; d--, o--)
        {
            var i = flat % batch[d];
            flat /= batch[d];
            if (o >= 0)
            {
                offset += (own[o] == 1 ? 0 : i) * scale;
                scale *= own[o];
            }
        }

        return offset;
    }
}
