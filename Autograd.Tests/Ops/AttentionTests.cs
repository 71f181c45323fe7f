using Autograd;
using Autograd.Kernels;
using Autograd.Testing;

namespace Autograd.Tests.Ops;

/// <summary>
/// ScaledDotProductAttention: gradients over generated shapes, masks, biases, dropout, block sizes and views;
/// forward and gradients against the composed reference (MatMul, MaskedFill, Softmax, Dropout, MatMul) to
/// 1e-10 in double, at the issue's shapes and on the GPT's transposed views; the recorded (createGraph)
/// backward against the fused one; rows with no key; thread counts; named errors.
/// </summary>
[Category("GradProperty")]
[NonParallelizable] // Sets AttentionKernel.BlockRowsOverride and Gemm.ThreadsOverride.
public class AttentionTests
{
    public enum Variant
    {
        Plain,
        Causal,
        Mask,
        Bias,
        Dropout,
        MaskAndBias,
    }

    private const double DropP = 0.3;

    /// <summary>[b, h, l, e] queries, [b, h, s, e] keys, [b, h, s, ev] values, a variant, query rows per block (0: the op's choice), an explicit scale or not.</summary>
    private static CaseSpec Spec() => new CaseSpec()
        .Int("b", 1, 2).Int("h", 1, 2).Int("l", 1, 5).Int("s", 1, 5).Int("e", 1, 3).Int("ev", 1, 3)
        .Int("variant", 0, 5).Int("block", 0, 3).Int("scaled", 0, 1).Views(4);

    [Test]
    public void ScaledDotProductAttention_GradientMatchesFiniteDifferences() =>
        GradProperty.Check(Spec(), c =>
        {
            var g = c.Generator();
            var variant = (Variant)c["variant"];
            var (q, vq) = Inputs.Make([c["b"], c["h"], c["l"], c["e"]], c.View(0), g);
            var (k, vk) = Inputs.Make([c["b"], c["h"], c["s"], c["e"]], c.View(1), g);
            var (v, vv) = Inputs.Make([c["b"], c["h"], c["s"], c["ev"]], c.View(2), g);
            var (bias, vb) = Inputs.Make([c["l"], c["s"]], c.View(3), g);   // broadcast over batch and heads
            var mask = RandomMask(g, [c["h"], c["l"], c["s"]], keepFirst: false);   // rows with no key too
            var hasBias = variant is Variant.Bias or Variant.MaskAndBias;
            double? scale = c["scaled"] == 1 ? 0.7 : null;
            var seed = (ulong)c.Seed;
            return WithBlockRows(c["block"], () => GradCheck.Check(
                t => Tensor.ScaledDotProductAttention(
                    vq(t[0]), vk(t[1]), vv(t[2]),
                    attnMask: variant is Variant.Mask or Variant.MaskAndBias ? mask : null,
                    dropoutP: variant == Variant.Dropout ? DropP : 0,
                    isCausal: variant == Variant.Causal,
                    scale: scale,
                    attnBias: hasBias ? vb(t[3]) : null,
                    generator: new Generator(seed)),
                hasBias ? [q, k, v, bias] : [q, k, v]));
        });

    [Test]
    public void ScaledDotProductAttention_SecondOrderMatchesFiniteDifferences() => SecondOrderTests.SecondOrder(ScaledDotProductAttention_GradientMatchesFiniteDifferences);

    [TestCase(Variant.Plain)]
    [TestCase(Variant.Causal)]
    [TestCase(Variant.Mask)]
    [TestCase(Variant.Bias)]
    [TestCase(Variant.Dropout)]
    [TestCase(Variant.MaskAndBias)]
    public void MatchesTheComposedReference_AtTheIssuesShapes(Variant variant)
    {
        AssertMatchesReference([2, 3], 5, 5, 4, 4, variant, gptViews: false, seed: 1);
        AssertMatchesReference([1, 2], 70, 70, 8, 8, variant, gptViews: false, seed: 2);
        AssertMatchesReference([2, 2], 3, 7, 5, 2, variant, gptViews: false, seed: 3);   // L < S, Ev ≠ E
        AssertMatchesReference([1, 1], 9, 4, 3, 3, variant, gptViews: false, seed: 4);   // L > S
    }

    [TestCase(Variant.Plain)]
    [TestCase(Variant.Causal)]
    [TestCase(Variant.Mask)]
    [TestCase(Variant.Dropout)]
    public void MatchesTheComposedReference_OnTheGptsTransposedViews(Variant variant)
    {
        AssertMatchesReference([2, 3], 5, 5, 4, 4, variant, gptViews: true, seed: 5);
        AssertMatchesReference([1, 2], 70, 70, 8, 8, variant, gptViews: true, seed: 6);
    }

    [TestCase(Variant.Plain)]
    [TestCase(Variant.Causal)]
    [TestCase(Variant.MaskAndBias)]
    public void MatchesTheComposedReference_InManySmallBlocks(Variant variant)
    {
        WithBlockRows(3, () => AssertMatchesReference([1, 2], 70, 70, 8, 8, variant, gptViews: true, seed: 7));
        WithBlockRows(1, () => AssertMatchesReference([2, 1], 6, 9, 3, 2, variant, gptViews: false, seed: 8));
    }

    [TestCase(false, 32)]   // float, features a multiple of 16: the register tiles
    [TestCase(false, 5)]    // float, the general path
    [TestCase(true, 5)]     // double
    public void OutputAndGradients_FollowTheInputsMemoryOrder(bool inDouble, int e)
    {
        if (inDouble)
        {
            Check<double>();
        }
        else
        {
            Check<float>();
        }

        void Check<T>()
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            // The GPT's head views of one [B, T, 3·H·E] projection: the output and dQ, dK, dV come back stored as [B, T, H, ·],
            // so the caller's Transpose(1, 2).Reshape(B, T, H·E) needs no copy, and equal the same call on contiguous copies.
            var g = new Generator(21);
            var x = Tensor.Randn<T>([2, 9, 3 * 3 * e], g, requiresGrad: true);
            var (q, k, v) = Heads(x, 3);
            var dy = Tensor.Randn<T>([2, 3, 9, e], g);
            var y = Tensor.ScaledDotProductAttention(q, k, v, isCausal: true);
            var seen = new bool[3];
            for (var i = 0; i < 3; i++)
            {
                var at = i;
                new[] { q, k, v }[i].RegisterHook(grad => seen[at] = grad.Transpose(1, 2).IsContiguous);   // the gradient as the op made it
            }

            var grads = Tensor.Grad(y, [q, k, v], dy);
            var (qc, kc, vc) = (Copy(q), Copy(k), Copy(v));
            var yc = Tensor.ScaledDotProductAttention(qc, kc, vc, isCausal: true);
            var gradsC = Tensor.Grad(yc, [qc, kc, vc], dy);
            Assert.That(y.Transpose(1, 2).IsContiguous && !y.IsContiguous, Is.True, "the output, stored [B, T, H, E]");
            Assert.That(yc.IsContiguous, Is.True, "the output of contiguous inputs");
            Assert.That(y.ToArray(), Is.EqualTo(yc.ToArray()), "the same values in either order");
            for (var i = 0; i < 3; i++)
            {
                Assert.That(seen[i], Is.True, $"gradient {i}, stored [B, T, H, E]");
                Assert.That(gradsC[i]!.IsContiguous, Is.True, $"gradient {i} of contiguous inputs");
                Assert.That(grads[i]!.ToArray(), Is.EqualTo(gradsC[i]!.ToArray()), $"gradient {i}: the same values in either order");
            }

            Tensor<T> Copy(Tensor<T> t) => Tensor.FromArray(t.ToArray(), t.ShapeArray, requiresGrad: true);
        }
    }

    [Test]
    public void RecordedBackward_MatchesTheFusedBackward()
    {
        // createGraph takes the composed path; without it the fused kernels run. Dropout, a bias and a row with no key at once.
        var g = new Generator(11);
        var q = Tensor.Randn<double>([2, 2, 6, 3], g, requiresGrad: true);
        var k = Tensor.Randn<double>([2, 2, 7, 3], g, requiresGrad: true);
        var v = Tensor.Randn<double>([2, 2, 7, 4], g, requiresGrad: true);
        var bias = Tensor.Randn<double>([2, 1, 6, 7], g, requiresGrad: true);
        var mask = RandomMask(g, [6, 7], keepFirst: true);
        mask = mask.MaskedFill(Tensor.FromArray(new double[] { 0, 0, 1, 0, 0, 0 }, [6, 1]), 0);   // row 2 sees nothing
        var cotangent = Tensor.Randn<double>([2, 2, 6, 4], g);
        Tensor<double>?[] Grads(bool createGraph)
        {
            var y = Tensor.ScaledDotProductAttention(q, k, v, mask, dropoutP: 0.25, attnBias: bias, generator: new Generator(3));
            return Tensor.Grad(y, [q, k, v, bias], cotangent, createGraph: createGraph);
        }

        var fused = Grads(false);
        var recorded = Grads(true);
        for (var i = 0; i < fused.Length; i++)
        {
            AssertClose(recorded[i]!, fused[i]!, 1e-12, $"gradient {i}");
        }

        Assert.That(recorded[0]!.RequiresGrad, Is.True, "the recorded gradient is connected to the graph");
        Assert.That(fused[0]!.RequiresGrad, Is.False);
    }

    [Test]
    public void RowsWithNoKey_GiveZero_AndNoGradient()
    {
        var g = new Generator(12);
        var q = Tensor.Randn<double>([1, 1, 4, 3], g, requiresGrad: true);
        var k = Tensor.Randn<double>([1, 1, 5, 3], g, requiresGrad: true);
        var v = Tensor.Randn<double>([1, 1, 5, 2], g, requiresGrad: true);
        var mask = Tensor.Ones<double>(4, 5).MaskedFill(Tensor.FromArray(new double[] { 0, 1, 0, 0 }, [4, 1]), 0);
        var cotangent = Tensor.Randn<double>([1, 1, 4, 2], g);
        var y = Tensor.ScaledDotProductAttention(q, k, v, mask);
        Assert.That(y[0, 0, 1].ToArray(), Is.EqualTo(new[] { 0.0, 0 }), "PyTorch's safe softmax: a row with no key is 0, not NaN");
        var grads = Tensor.Grad(y, [q, k, v], cotangent);
        Assert.That(grads[0]![0, 0, 1].ToArray(), Is.All.EqualTo(0.0));

        // The other rows: as the reference with the dead row's cotangent zeroed (its mask can then be anything).
        var rowAlive = Tensor.FromArray(new double[] { 1, 0, 1, 1 }, [4, 1]);
        var expected = Tensor.Grad(Reference(q, k, v, Tensor.Ones<double>(4, 5), null, false, null), [q, k, v], cotangent * rowAlive);
        for (var i = 0; i < 3; i++)
        {
            AssertClose(grads[i]!, expected[i]!, 1e-12, $"gradient {i}");
        }

        // Causal attention with more keys than a row may see, and a key-free input (S = 0).
        var empty = Tensor.ScaledDotProductAttention(q, Tensor.Zeros<double>(1, 1, 0, 3), Tensor.Zeros<double>(1, 1, 0, 2));
        Assert.That(empty.Shape, Is.EqualTo(new[] { 1, 1, 4, 2 }));
        Assert.That(empty.ToArray(), Is.All.EqualTo(0.0));
    }

    [Test]
    public void EmptyDimensions_GiveEmptyOrZeroResults()
    {
        var q = Tensor.Zeros<double>(2, 0, 3);
        q.RequiresGrad = true;
        var y = Tensor.ScaledDotProductAttention(q, Tensor.Zeros<double>(2, 4, 3), Tensor.Zeros<double>(2, 4, 5), isCausal: true);
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 0, 5 }));
        y.Sum().Backward();
        Assert.That(q.Grad!.Shape, Is.EqualTo(new[] { 2, 0, 3 }));
        var batchless = Tensor.Zeros<double>(0, 2, 3);
        batchless.RequiresGrad = true;
        Tensor.ScaledDotProductAttention(batchless, Tensor.Zeros<double>(0, 4, 3), Tensor.Zeros<double>(0, 4, 5), dropoutP: 0.5).Sum().Backward();
        var k = Tensor.Zeros<double>(1, 0, 3);
        k.RequiresGrad = true;
        var keyless = Tensor.ScaledDotProductAttention(Tensor.Ones<double>(1, 2, 3), k, Tensor.Zeros<double>(1, 0, 5), isCausal: true, dropoutP: 0.2);
        Assert.That(keyless.ToArray(), Is.All.EqualTo(0.0));
        keyless.Sum().Backward();
        Assert.That(k.Grad!.Shape, Is.EqualTo(new[] { 1, 0, 3 }));
    }

    [Test]
    public void Float32_MatchesFloat64FiniteDifferences()
    {
        static Tensor<T> F<T>(Tensor<T>[] xs)
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
            Tensor.ScaledDotProductAttention(xs[0], xs[1], xs[2], isCausal: true);

        var g = new Generator(13);
        Tensor<float>[] inputs = [Tensor.Randn<float>([2, 2, 5, 3], g, true), Tensor.Randn<float>([2, 2, 5, 3], g, true), Tensor.Randn<float>([2, 2, 5, 4], g, true)];
        GradCheck.CheckFloat32(F<float>, F<double>, inputs).ThrowIfFailed();
    }

    [Test]
    public void ParallelMatrices_SameBitsAtOneAndTwoThreads()
    {
        // The GPT's attention: [12, 4, 64, 32] causal, in float; 48 matrices spread over the threads.
        var gen = new Generator(14);
        var x = Tensor.Randn<float>([12, 64, 384], gen);
        var cotangent = Tensor.Randn<float>([12, 4, 64, 32], gen);
        float[][] Run(int threads)
        {
            var previous = Gemm.ThreadsOverride;
            Gemm.ThreadsOverride = threads;
            try
            {
                var leaf = x.Detach();
                leaf.RequiresGrad = true;
                var (q, k, v) = Heads(leaf, 4);
                var y = Tensor.ScaledDotProductAttention(q, k, v, isCausal: true);
                y.Backward(cotangent);
                return [y.ToArray(), leaf.Grad!.ToArray()];
            }
            finally
            {
                Gemm.ThreadsOverride = previous;
            }
        }

        var two = Run(2);
        var one = Run(1);
        for (var i = 0; i < two.Length; i++)
        {
            Assert.That(two[i].Select(BitConverter.SingleToInt32Bits), Is.EqualTo(one[i].Select(BitConverter.SingleToInt32Bits)), i == 0 ? "output" : "gradient");
        }
    }

    [Test]
    public void SavedOutput_WrittenInPlace_MakesBackwardThrow()
    {
        var g = new Generator(15);
        var q = Tensor.Randn<double>([1, 2, 3], g, requiresGrad: true);
        var y = Tensor.ScaledDotProductAttention(q, q, q);
        using (Tensor.NoGrad())
        {
            y.MulInPlace(2.0);
        }

        Assert.Throws<SavedTensorModifiedException>(() => y.Sum().Backward());
    }

    [Test]
    public void BadArguments_NameTheOpTheArgumentAndTheShapes()
    {
        var q = Tensor.Zeros<double>(2, 3, 4, 5);
        var k = Tensor.Zeros<double>(2, 3, 6, 5);
        var v = Tensor.Zeros<double>(2, 3, 6, 7);
        void Throws(Action call, string param, params string[] texts)
        {
            var ex = Assert.Throws<ArgumentException>(() => call())!;
            Assert.That(ex.ParamName, Is.EqualTo(param));
            Assert.That(ex.Message, Does.Contain("ScaledDotProductAttention"));
            foreach (var text in texts)
            {
                Assert.That(ex.Message, Does.Contain(text));
            }
        }

        Throws(() => Tensor.ScaledDotProductAttention(Tensor.Zeros<double>(5), k, v), "query", "query [5]");
        Throws(() => Tensor.ScaledDotProductAttention(q, Tensor.Zeros<double>(3, 6, 5), v), "key", "key [3, 6, 5]");
        Throws(() => Tensor.ScaledDotProductAttention(q, Tensor.Zeros<double>(2, 2, 6, 5), v), "key", "leading", "[2, 2, 6, 5]");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, Tensor.Zeros<double>(1, 3, 6, 7)), "value", "leading");
        Throws(() => Tensor.ScaledDotProductAttention(q, Tensor.Zeros<double>(2, 3, 6, 4), v), "key", "4 features", "query [2, 3, 4, 5]");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, Tensor.Zeros<double>(2, 3, 5, 7)), "value", "5 positions");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, v, dropoutP: 1.5), "dropoutP", "1.5");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, v, dropoutP: double.NaN), "dropoutP");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, v, scale: double.NaN), "scale");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, v, Tensor.Ones<double>(4, 6), isCausal: true), "attnMask", "isCausal");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, v, attnBias: Tensor.Zeros<double>(4, 6), isCausal: true), "attnBias", "isCausal");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, v, Tensor.Ones<double>(4, 5)), "attnMask", "[4, 5]", "[2, 3, 4, 6]");
        Throws(() => Tensor.ScaledDotProductAttention(q, k, v, attnBias: Tensor.Zeros<double>(3, 3, 4, 6)), "attnBias", "[3, 3, 4, 6]");
        Throws(
            () => Tensor.ScaledDotProductAttention(q, k, v, Tensor.Zeros<double>(4, 6).MaskedFill(Tensor.Ones<double>(4, 6).Triu(1), double.NegativeInfinity)),
            "attnMask", "-Infinity", "attnBias");
    }

    /// <summary>The model's q, k, v: x [B, T, 3C] split in three, each viewed [B, T, H, D] and transposed to [B, H, T, D].</summary>
    internal static (Tensor<T> Q, Tensor<T> K, Tensor<T> V) Heads<T>(Tensor<T> x, int heads)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var (b, t, c) = (x.Shape[0], x.Shape[1], x.Shape[2] / 3);
        var parts = x.Split(c, 2);
        Tensor<T> View(Tensor<T> p) => p.View(b, t, heads, c / heads).Transpose(1, 2);
        return (View(parts[0]), View(parts[1]), View(parts[2]));
    }

    /// <summary>PyTorch's math path, composed of recorded ops: softmax(scale·QKᵀ + bias, masked), dropout, times V.</summary>
    private static Tensor<double> Reference(Tensor<double> q, Tensor<double> k, Tensor<double> v, Tensor<double>? mask, Tensor<double>? bias, bool causal, double? dropoutP, ulong seed = 0)
    {
        var (l, s) = (q.Shape[^2], k.Shape[^2]);
        var scores = q.MatMul(k.Transpose(-1, -2)) * (1 / Math.Sqrt(q.Shape[^1]));
        if (bias is not null)
        {
            scores += bias;
        }

        if (causal)
        {
            scores = scores.MaskedFill(Tensor.Ones<double>(l, s).Triu(1), double.NegativeInfinity);
        }

        if (mask is not null)
        {
            scores = scores.MaskedFill(mask.Eq(0), double.NegativeInfinity);
        }

        var p = scores.Softmax(-1);
        if (dropoutP is { } dp)
        {
            p = p.Dropout(dp, generator: new Generator(seed));
        }

        return p.MatMul(v);
    }

    private static void AssertMatchesReference(int[] lead, int l, int s, int e, int ev, Variant variant, bool gptViews, int seed)
    {
        var g = new Generator((ulong)seed);
        Tensor<double> q, k, v;
        Tensor<double>[] leaves;
        if (gptViews)
        {
            var x = Tensor.Randn<double>([lead[0], l, 3 * lead[1] * e], g, requiresGrad: true);
            (q, k, v) = Heads(x, lead[1]);
            leaves = [x];
        }
        else
        {
            q = Tensor.Randn<double>([.. lead, l, e], g, requiresGrad: true);
            k = Tensor.Randn<double>([.. lead, s, e], g, requiresGrad: true);
            v = Tensor.Randn<double>([.. lead, s, ev], g, requiresGrad: true);
            leaves = [q, k, v];
        }

        var mask = variant is Variant.Mask or Variant.MaskAndBias ? RandomMask(g, [lead[1], l, s], keepFirst: true) : null;
        var bias = variant is Variant.Bias or Variant.MaskAndBias ? Tensor.Randn<double>([lead[0], 1, l, s], g, requiresGrad: true) : null;
        if (bias is not null)
        {
            leaves = [.. leaves, bias];
        }

        double? dropoutP = variant == Variant.Dropout ? DropP : null;
        var cotangent = Tensor.Randn<double>([.. lead, l, ev], g);
        var y = Tensor.ScaledDotProductAttention(q, k, v, mask, dropoutP ?? 0, variant == Variant.Causal, attnBias: bias, generator: new Generator(99));
        var expected = Reference(q, k, v, mask, bias, variant == Variant.Causal, dropoutP, seed: 99);
        AssertClose(y, expected, 1e-10, "output");
        // As PyTorch's flash attention: the output in the query's memory order, [B, L, H, Ev] on the GPT's head views.
        Assert.That(gptViews ? y.Transpose(1, 2).IsContiguous : y.IsContiguous, Is.True, "the output's memory order");
        var grads = Tensor.Grad(y, leaves, cotangent, retainGraph: true);   // the views are shared with the reference
        var expectedGrads = Tensor.Grad(expected, leaves, cotangent);
        for (var i = 0; i < leaves.Length; i++)
        {
            AssertClose(grads[i]!, expectedGrads[i]!, 1e-10, $"gradient {i}");
        }
    }

    /// <summary>0/1 with 1 for 70 % of the scores; with <paramref name="keepFirst"/> every row keeps key 0 (no row without a key).</summary>
    private static Tensor<double> RandomMask(Generator g, int[] shape, bool keepFirst)
    {
        var n = shape.Aggregate(1, (a, b) => a * b);
        var s = shape[^1];
        return Tensor.FromArray(Enumerable.Range(0, n).Select(i => (keepFirst && i % s == 0) || g.NextDouble() < 0.7 ? 1.0 : 0).ToArray(), shape);
    }

    private static TResult WithBlockRows<TResult>(int rows, Func<TResult> body)
    {
        var previous = AttentionKernel.BlockRowsOverride;
        AttentionKernel.BlockRowsOverride = rows;
        try
        {
            return body();
        }
        finally
        {
            AttentionKernel.BlockRowsOverride = previous;
        }
    }

    private static void WithBlockRows(int rows, Action body) => WithBlockRows(rows, () =>
    {
        body();
        return 0;
    });

    private static void AssertClose(Tensor<double> actual, Tensor<double> expected, double tolerance, string what)
    {
        Assert.That(actual.Shape, Is.EqualTo(expected.Shape), what);
        var (a, b) = (actual.ToArray(), expected.ToArray());
        var worst = a.Zip(b, (x, y) => x == y ? 0 : double.IsNaN(x - y) ? double.PositiveInfinity : Math.Abs(x - y)).DefaultIfEmpty(0).Max();   // a NaN on one side only fails
        Assert.That(worst, Is.LessThanOrEqualTo(tolerance), $"{what}: largest difference {worst:E2}");
    }
}
