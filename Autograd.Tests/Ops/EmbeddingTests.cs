using Autograd;
using Autograd.Kernels;
using Autograd.Testing;
using Autograd.Tests.Support;

namespace Autograd.Tests.Ops;

/// <summary>
/// Embedding (F.embedding): gradients over generated tables, index shapes with repeats, padding rows and
/// non-contiguous weights; repeated indices and the padding row by hand; named errors.
/// </summary>
[Category("GradProperty")]
public class EmbeddingTests
{
    /// <summary>num rows, dim columns, an index tensor of rank 0-2 (sizes i0, i1), paddingIdx pad − 1 (−1: none, negative forms too).</summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("num", 1, 5).Int("dim", 1, 4).Int("rank", 0, 2).Int("i0", 0, 4).Int("i1", 1, 3).Int("pad", 0, 5).Int("negative", 0, 1)
        .Views(1).Where(c => c["pad"] <= c["num"]);

    internal static IndexTensor RandomIndices(Generator g, int[] shape, int bound) =>
        IndexTensor.FromArray(Enumerable.Range(0, ShapeMath.Numel(shape)).Select(_ => (long)g.NextInt(bound)).ToArray(), shape);

    private static int? Padding(Case c) =>
        c["pad"] == 0 ? null : c["negative"] == 1 ? c["pad"] - 1 - c["num"] : c["pad"] - 1;

    [Test]
    public void Embedding_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(), c =>
        {
            var g = c.Generator();
            var (w, vw) = Inputs.Make([c["num"], c["dim"]], c.View(0), g);
            var indices = RandomIndices(g, TestData.Suffix([c["i0"], c["i1"]], c["rank"], 0), c["num"]);
            if (Padding(c) is not { } padding)
            {
                return GradCheck.Check(t => vw(t[0]).Embedding(indices), [w]);
            }

            // The padding row gets no gradient although the forward reads it (PyTorch's rule, not a
            // derivative): finite differences see the true gradient of the table with that row held
            // constant, and a plain backward must leave that row's gradient zero.
            var row = padding < 0 ? padding + c["num"] : padding;
            var frozen = Tensor.FromArray(vw(w).ToArray(), [c["num"], c["dim"]]);
            var isPadding = Tensor.FromArray(Enumerable.Range(0, c["num"]).Select(r => r == row ? 1.0 : 0).ToArray(), [c["num"], 1]);
            var table = vw(w);
            var dTable = Tensor.Grad(table.Embedding(indices, padding).Sum(), table)!;
            Assert.That(dTable[row].ToArray(), Is.All.EqualTo(0.0), "the padding row's gradient");
            return GradCheck.Check(t => Tensor.Embedding(frozen.Where(isPadding, vw(t[0])), indices, padding), [w]);
        });

    [Test]
    public void Embedding_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(Embedding_GradientMatchesFiniteDifferences);

    [Test]
    public void Embedding_ForwardPicksRows_AndRepeatedIndicesAccumulate()
    {
        var w = Tensor.FromArray(new[] { 1.0, 2, 3, 4, 5, 6 }, [3, 2], requiresGrad: true);
        var indices = IndexTensor.FromArray(new long[] { 2, 0, 2, 2 }, [2, 2]);
        var y = w.Embedding(indices);
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 2, 2 }));
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 5.0, 6, 1, 2, 5, 6, 5, 6 }));
        y.Backward(Tensor.FromArray(new[] { 1.0, 10, 100, 1000, 0.5, 0.25, 7, 8 }, [2, 2, 2]));
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 100.0, 1000, 0, 0, 8.5, 18.25 }));

        // A transposed table: rows read through strides.
        var table = Tensor.FromArray(new[] { 1.0, 3, 5, 2, 4, 6 }, [2, 3]).Transpose(0, 1);
        Assert.That(table.Embedding(IndexTensor.FromArray(new long[] { 1 })).ToArray(), Is.EqualTo(new[] { 3.0, 4 }));
    }

    [Test]
    public void Embedding_EmptyRowsOrIndices()
    {
        var w = Tensor.Zeros<double>(3, 0);
        w.RequiresGrad = true;
        var y = w.Embedding(IndexTensor.FromArray(new long[] { 0, 2 }));
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 0 }));
        y.Sum().Backward();
        Assert.That(w.Grad!.Shape, Is.EqualTo(new[] { 3, 0 }));
        Assert.That(Tensor.Zeros<double>(3, 2).Embedding(IndexTensor.FromArray(Array.Empty<long>(), [2, 0])).Shape, Is.EqualTo(new[] { 2, 0, 2 }));
    }

    [Test]
    public void Embedding_PaddingRow_IsReadButGetsNoGradient()
    {
        var w = Tensor.FromArray(new[] { 1.0, 2, 3, 4, 5, 6 }, [3, 2], requiresGrad: true);
        var indices = IndexTensor.FromArray(new long[] { 1, 0, 1, 2 });
        var y = Tensor.Embedding(w, indices, paddingIdx: -2);   // row 1
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 3.0, 4, 1, 2, 3, 4, 5, 6 }), "the padding row is read as it is (PyTorch)");
        (y * y).Sum().Backward();
        Assert.That(w.Grad!.ToArray(), Is.EqualTo(new[] { 2.0, 4, 0, 0, 10, 12 }));
    }

    [Test]
    public void Embedding_GradientOfTheGradient_IsTheLookup_ZeroAtPaddingPositions()
    {
        // dW = Σ_p v[p] scattered into rows idx[p] ≠ pad, so d⟨c, dW⟩/dv[p] = c[idx[p]], or 0 at a padding position.
        var w = Tensor.FromArray(new[] { 1.0, 2, 3, 4, 5, 6 }, [3, 2], requiresGrad: true);
        var v = Tensor.FromArray(new[] { 1.0, 1, 1, 1, 1, 1, 1, 1 }, [4, 2], requiresGrad: true);
        var c = Tensor.FromArray(new[] { 10.0, 20, 30, 40, 50, 60 }, [3, 2]);
        var y = w.Embedding(IndexTensor.FromArray(new long[] { 2, 1, 0, 2 }), paddingIdx: 1);
        var dw = Tensor.Grad(y, w, v, createGraph: true)!;
        Assert.That(dw.ToArray(), Is.EqualTo(new[] { 1.0, 1, 0, 0, 2, 2 }));
        var dv = Tensor.Grad((dw * c).Sum(), v)!;
        Assert.That(dv.ToArray(), Is.EqualTo(new[] { 50.0, 60, 0, 0, 10, 20, 50, 60 }));
    }

    [Test]
    public void Embedding_BadArguments_NameTheOpAndShapes()
    {
        var w = Tensor.Zeros<double>(4, 3);
        var ex = Assert.Throws<ArgumentException>(() => w.Embedding(IndexTensor.FromArray(new long[] { 0, 4 })));
        Assert.That(ex!.Message, Does.Contain("Embedding").And.Contain("index 4").And.Contain("[4, 3]").And.Contain("indices [2]"));
        Assert.That(ex.ParamName, Is.EqualTo("indices"));
        ex = Assert.Throws<ArgumentException>(() => w.Embedding(IndexTensor.FromArray(new long[] { -1 })));
        Assert.That(ex!.Message, Does.Contain("index -1"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Zeros<double>(4).Embedding(IndexTensor.FromArray(new long[] { 0 })));
        Assert.That(ex!.Message, Does.Contain("Embedding").And.Contain("2-D").And.Contain("weight [4]"));
        Assert.That(ex.ParamName, Is.EqualTo("weight"));
        ex = Assert.Throws<ArgumentException>(() => Tensor.Embedding(w, IndexTensor.FromArray(new long[] { 0 }), 4));
        Assert.That(ex!.Message, Does.Contain("paddingIdx 4").And.Contain("[4, 3]"));
        Assert.That(ex.ParamName, Is.EqualTo("paddingIdx"));
        Assert.Throws<ArgumentException>(() => w.Embedding(IndexTensor.FromArray(new long[] { 0 }), -5));
    }
}

/// <summary>Embedding's weight gradient is the same bits at one and two threads, and equals a scatter in position order.</summary>
[NonParallelizable] // Sets Gemm.ThreadsOverride.
public class EmbeddingDeterminismTests
{
    [Test]
    public void EmbeddingBackward_RepeatedIndices_SameBitsAtOneAndTwoThreads()
    {
        // The GPT's token table: 65 rows of 128, a [12, 64] batch of indices (each row hit ~12 times).
        var gen = new Generator(7);
        var indices = EmbeddingTests.RandomIndices(gen, [12, 64], 65);
        var weight = Tensor.Randn<float>([65, 128], gen);
        var cotangent = Tensor.Randn<float>([12, 64, 128], gen);

        // Two threads with the rows cut in two whatever the size (below the elementwise threshold the pass stays on one).
        float[] Run(int threads)
        {
            var previous = Gemm.ThreadsOverride;
            Gemm.ThreadsOverride = threads;
            Elementwise.ForceChunks = threads;
            try
            {
                var w = weight.Detach();
                w.RequiresGrad = true;
                w.Embedding(indices, paddingIdx: 3).Backward(cotangent);
                return w.Grad!.ToArray();
            }
            finally
            {
                Gemm.ThreadsOverride = previous;
                Elementwise.ForceChunks = 0;
            }
        }

        var one = Run(1);
        var two = Run(2);
        Assert.That(two.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(one.Select(BitConverter.SingleToInt32Bits)));

        // The reference: every position added into its row in position order, float by float.
        var expected = new float[65 * 128];
        var g = cotangent.ToArray();
        var idx = indices.ToArray();
        for (var p = 0; p < idx.Length; p++)
        {
            for (var j = 0; j < 128 && idx[p] != 3; j++)
            {
                expected[idx[p] * 128 + j] += g[p * 128 + j];
            }
        }

        Assert.That(two.Select(BitConverter.SingleToInt32Bits), Is.EqualTo(expected.Select(BitConverter.SingleToInt32Bits)));
        Assert.That(two.Skip(3 * 128).Take(128), Is.All.EqualTo(0f), "the padding row gets no gradient");
    }
}
