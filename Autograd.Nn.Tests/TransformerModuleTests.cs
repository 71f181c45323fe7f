using Autograd.Testing;

namespace Autograd.Nn.Tests;

/// <summary>
/// <see cref="Embedding{T}"/> and <see cref="MultiheadAttention{T}"/>: PyTorch's names, shapes, initialisation and
/// errors; gradients of every parameter through GradCheck; attention against a reference written with loops.
/// </summary>
public class TransformerModuleTests
{
    private static Tensor<double> Randn(int[] shape, ulong seed) => Tensor.Randn<double>(shape, new Generator(seed));

    // ---- Embedding

    [Test]
    public void Embedding_LooksUpRows_OfAnyIdShape()
    {
        var emb = new Embedding<double>(7, 3, generator: new Generator(1));
        var ids = IndexTensor.FromArray([4, 0, 4, 6, 1, 2], [2, 3]);
        var y = emb.Forward(ids);
        Assert.That(y.Shape, Is.EqualTo(new[] { 2, 3, 3 }));
        var w = emb.Weight.ToArray();
        Assert.That(y.ToArray(), Is.EqualTo(new[] { 4, 0, 4, 6, 1, 2 }.SelectMany(r => w[(3 * r)..(3 * r + 3)])));
        Assert.That(emb.NamedParameters().Select(p => p.Name), Is.EqualTo(new[] { "weight" }));
        Assert.That(emb.StateDict().Keys, Is.EqualTo(new[] { "weight" }));
        Assert.That(emb.ToString(), Is.EqualTo("Embedding(7, 3)"));
    }

    [Test]
    public void Embedding_StartsStandardNormal_WithThePaddingRowZero_AndGivesItNoGradient()
    {
        var emb = new Embedding<double>(1000, 20, paddingIdx: -1, generator: new Generator(2));
        Assert.That(emb.PaddingIdx, Is.EqualTo(999), "stored non-negative, as PyTorch");
        Assert.That(emb.ToString(), Is.EqualTo("Embedding(1000, 20, padding_idx=999)"));
        var w = emb.Weight.ToArray();
        Assert.That(w[^20..], Is.All.EqualTo(0.0));
        var rest = w[..^20];
        var mean = rest.Average();
        var std = Math.Sqrt(rest.Average(v => (v - mean) * (v - mean)));
        // 19,980 samples of N(0, 1): the mean within 4/√19980 ≈ 0.028, the std within a few per cent.
        Assert.That(mean, Is.EqualTo(0.0).Within(0.03));
        Assert.That(std, Is.EqualTo(1.0).Within(0.03));
        Assert.That(new Embedding<double>(1000, 20, generator: new Generator(2)).Weight.ToArray(), Is.EqualTo(new Embedding<double>(1000, 20, generator: new Generator(2)).Weight.ToArray()), "seeded");

        emb.Forward(IndexTensor.FromArray([999, 3, 999])).Sum().Backward();
        var grad = emb.Weight.Grad!.ToArray();
        Assert.That(grad[^20..], Is.All.EqualTo(0.0), "the padding row");
        Assert.That(grad[60..80], Is.All.EqualTo(1.0));
    }

    [Test]
    public void Embedding_Gradients_MatchFiniteDifferences()
    {
        // The padding row 2 is not looked up: where it is, its gradient is 0 by definition, not the finite difference.
        var emb = new Embedding<double>(5, 3, paddingIdx: 2, generator: new Generator(3));
        var ids = IndexTensor.FromArray([1, 3, 1, 4, 0, 3], [3, 2]);
        var scale = Randn([3, 2, 3], 4);
        var result = GradCheck.CheckParameters(() => (emb.Forward(ids) * scale).Tanh(), [.. emb.Parameters()]);
        Assert.That(result.Passed, Is.True, result.ToString());
    }

    [Test]
    public void Embedding_Weight_TiesToAHead_AndChecksItsShape()
    {
        var emb = new Embedding<double>(6, 4, generator: new Generator(5));
        var head = new Linear<double>(4, 6, bias: false);
        head.Weight = emb.Weight;
        Assert.That(head.Weight, Is.SameAs(emb.Weight));
        var other = new Embedding<double>(6, 4) { Weight = head.Weight };
        Assert.That(other.Weight, Is.SameAs(emb.Weight));
        Assert.That(other.Parameters().Single(), Is.SameAs(emb.Weight));

        var ex = Assert.Throws<ArgumentException>(() => emb.Weight = Tensor.Zeros<double>(4, 6));
        Assert.That(ex!.Message, Does.StartWith("Embedding: weight must have shape [num_embeddings, embedding_dim] = [6, 4], got [4, 6]"));
    }

    [Test]
    public void Embedding_Errors_NameTheModuleTheArgumentAndTheShapes()
    {
        var emb = new Embedding<double>(5, 3);
        var ex = Assert.Throws<ArgumentException>(() => emb.Forward(IndexTensor.FromArray([1, 5, 0], [1, 3])));
        Assert.That(ex!.Message, Does.StartWith("Embedding: index 5 at position 1 is out of range for a weight of 5 rows (weight [5, 3], indices [1, 3])"));
        Assert.That(ex.ParamName, Is.EqualTo("indices"));
        Assert.Throws<ArgumentException>(() => emb.Forward(IndexTensor.FromArray([-1])));
        Assert.That(Assert.Throws<ArgumentException>(() => new Embedding<double>(5, 3, paddingIdx: 5))!.Message, Does.StartWith("Embedding: padding_idx must be within num_embeddings = 5, got 5"));
        Assert.That(Assert.Throws<ArgumentException>(() => new Embedding<double>(0, 3))!.Message, Does.StartWith("Embedding: num_embeddings and embedding_dim must be positive, got (0, 3)"));
        Assert.Throws<ArgumentNullException>(() => emb.Forward((IndexTensor)null!));

        Module<double> asModule = emb;
        var wrong = Assert.Throws<InvalidOperationException>(() => asModule.Forward(Tensor.Zeros<double>(2)));
        Assert.That(wrong!.Message, Does.StartWith("Embedding: the input is token ids, Forward(IndexTensor), got a tensor [2]"));
    }

    // ---- MultiheadAttention

    [Test]
    public void MultiheadAttention_HasPyTorchsParameterNames_ShapesAndInitialisation()
    {
        var mha = new MultiheadAttention<double>(8, 2, generator: new Generator(6));
        Assert.That(mha.NamedParameters().Select(p => (p.Name, p.Parameter.Shape)), Is.EqualTo(new[]
        {
            ("in_proj_weight", new[] { 24, 8 }), ("in_proj_bias", new[] { 24 }), ("out_proj.weight", new[] { 8, 8 }), ("out_proj.bias", new[] { 8 }),
        }));
        Assert.That(mha.StateDict().Keys, Is.EqualTo(new[] { "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias" }));
        Assert.That(mha.InProjBias!.ToArray(), Is.All.EqualTo(0.0));
        Assert.That(mha.OutProj.Bias!.ToArray(), Is.All.EqualTo(0.0));
        var bound = Math.Sqrt(6.0 / (8 + 24));   // xavier_uniform_ over [24, 8]
        Assert.That(mha.InProjWeight.ToArray(), Is.All.InRange(-bound, bound));
        Assert.That(mha.InProjWeight.ToArray().Max(), Is.GreaterThan(0.8 * bound));
        Assert.That(mha.OutProj.Weight.ToArray(), Is.All.InRange(-1 / Math.Sqrt(8), 1 / Math.Sqrt(8)), "the Linear default");
        Assert.That(mha.HeadDim, Is.EqualTo(4));

        var noBias = new MultiheadAttention<double>(8, 2, bias: false);
        Assert.That(noBias.StateDict().Keys, Is.EqualTo(new[] { "in_proj_weight", "out_proj.weight" }));
        Assert.That(mha.ToString(), Is.EqualTo("MultiheadAttention(\n  (out_proj): Linear(in_features=8, out_features=8, bias=True)\n)"));
    }

    [Test]
    public void MultiheadAttention_Shapes_SequenceFirst_BatchFirst_Unbatched()
    {
        var mha = new MultiheadAttention<double>(6, 3, generator: new Generator(7));
        var (o, w) = mha.Forward(Randn([5, 2, 6], 1), Randn([4, 2, 6], 2), Randn([4, 2, 6], 3));
        Assert.That(o.Shape, Is.EqualTo(new[] { 5, 2, 6 }));
        Assert.That(w!.Shape, Is.EqualTo(new[] { 2, 5, 4 }));
        (_, w) = mha.Forward(Randn([5, 2, 6], 1), Randn([4, 2, 6], 2), Randn([4, 2, 6], 3), averageAttnWeights: false);
        Assert.That(w!.Shape, Is.EqualTo(new[] { 2, 3, 5, 4 }));
        (o, w) = mha.Forward(Randn([5, 2, 6], 1), Randn([4, 2, 6], 2), Randn([4, 2, 6], 3), needWeights: false);
        Assert.That(o.Shape, Is.EqualTo(new[] { 5, 2, 6 }));
        Assert.That(w, Is.Null);

        var batchFirst = new MultiheadAttention<double>(6, 3, batchFirst: true);
        (o, w) = batchFirst.Forward(Randn([2, 5, 6], 1), Randn([2, 4, 6], 2), Randn([2, 4, 6], 3));
        Assert.That(o.Shape, Is.EqualTo(new[] { 2, 5, 6 }));
        Assert.That(w!.Shape, Is.EqualTo(new[] { 2, 5, 4 }));

        (o, w) = mha.Forward(Randn([5, 6], 1), Randn([4, 6], 2), Randn([4, 6], 3), averageAttnWeights: false);
        Assert.That(o.Shape, Is.EqualTo(new[] { 5, 6 }));
        Assert.That(w!.Shape, Is.EqualTo(new[] { 3, 5, 4 }));
    }

    /// <summary>
    /// The module's computation with loops over plain arrays (batch-first [N, L, E]): projections, per-head scaled
    /// scores, softmax over the keys not masked (a row with none gives 0), the weighted values, out_proj; and the
    /// weights averaged over the heads.
    /// </summary>
    private static (double[] Output, double[] Weights) Reference(MultiheadAttention<double> m, double[] q, double[] k, double[] v, int n, int l, int s, Func<int, int, int, int, bool> masked)
    {
        int e = m.EmbedDim, heads = m.NumHeads, hd = m.HeadDim;
        var w = m.InProjWeight.ToArray();
        var b = m.InProjBias?.ToArray() ?? new double[3 * e];
        var wo = m.OutProj.Weight.ToArray();
        var bo = m.OutProj.Bias?.ToArray() ?? new double[e];
        double[] Project(double[] x, int rows, int part)
        {
            var y = new double[rows * e];
            for (var r = 0; r < rows; r++)
            {
                for (var o = 0; o < e; o++)
                {
                    var sum = b[part * e + o];
                    for (var i = 0; i < e; i++)
                    {
                        sum += w[(part * e + o) * e + i] * x[r * e + i];
                    }

                    y[r * e + o] = sum;
                }
            }

            return y;
        }

        double[] pq = Project(q, n * l, 0), pk = Project(k, n * s, 1), pv = Project(v, n * s, 2);
        var attended = new double[n * l * e];
        var weights = new double[n * l * s];
        for (var bi = 0; bi < n; bi++)
        {
            for (var h = 0; h < heads; h++)
            {
                for (var i = 0; i < l; i++)
                {
                    var scores = new double[s];
                    var max = double.NegativeInfinity;
                    for (var j = 0; j < s; j++)
                    {
                        var dot = 0.0;
                        for (var d = 0; d < hd; d++)
                        {
                            dot += pq[(bi * l + i) * e + h * hd + d] * pk[(bi * s + j) * e + h * hd + d];
                        }

                        scores[j] = masked(bi, h, i, j) ? double.NegativeInfinity : dot / Math.Sqrt(hd);
                        max = Math.Max(max, scores[j]);
                    }

                    var p = scores.Select(x => double.IsNegativeInfinity(max) ? 0 : Math.Exp(x - max)).ToArray();
                    var total = p.Sum();
                    for (var j = 0; j < s; j++)
                    {
                        p[j] = total == 0 ? 0 : p[j] / total;
                        weights[(bi * l + i) * s + j] += p[j] / heads;
                        for (var d = 0; d < hd; d++)
                        {
                            attended[(bi * l + i) * e + h * hd + d] += p[j] * pv[(bi * s + j) * e + h * hd + d];
                        }
                    }
                }
            }
        }

        var output = new double[n * l * e];
        for (var r = 0; r < n * l; r++)
        {
            for (var o = 0; o < e; o++)
            {
                var sum = bo[o];
                for (var i = 0; i < e; i++)
                {
                    sum += wo[o * e + i] * attended[r * e + i];
                }

                output[r * e + o] = sum;
            }
        }

        return (output, weights);
    }

    private static IEnumerable<TestCaseData> MaskCases()
    {
        // N = 2, heads = 2, L = 4, S = 5; PyTorch's boolean meaning: 1 = may not attend.
        yield return new TestCaseData("none").SetArgDisplayNames("none");
        yield return new TestCaseData("padding").SetArgDisplayNames("keyPaddingMask");
        yield return new TestCaseData("attn2d").SetArgDisplayNames("attnMask [L, S]");
        yield return new TestCaseData("attn3d").SetArgDisplayNames("attnMask [N·H, L, S] with a keyless row");
        yield return new TestCaseData("causal").SetArgDisplayNames("isCausal");
        yield return new TestCaseData("all").SetArgDisplayNames("padding, attnMask and isCausal");
    }

    [TestCaseSource(nameof(MaskCases))]
    public void MultiheadAttention_MatchesTheReference_OnBothPaths(string masks)
    {
        const int n = 2, l = 4, s = 5, e = 6, heads = 2;
        var mha = new MultiheadAttention<double>(e, heads, batchFirst: true, generator: new Generator(8));
        using (Tensor.NoGrad())
        {
            mha.InProjBias!.CopyFrom(Randn([3 * e], 9) * 0.3);
            mha.OutProj.Bias!.CopyFrom(Randn([e], 10) * 0.3);
        }

        double[] q = Randn([n, l, e], 11).ToArray(), k = Randn([n, s, e], 12).ToArray(), v = Randn([n, s, e], 13).ToArray();
        bool Padding(int b, int j) => (b == 0 && j == 4) || (b == 1 && j < 2);
        bool Attn2d(int i, int j) => (i + 2 * j) % 5 == 1;
        bool Attn3d(int b, int h, int i, int j) => (b * heads + h == 3 && i == 2) || (i * j + h) % 4 == 3;   // row 2 of (1, 1) fully masked
        bool Causal(int i, int j) => j > i;
        Func<int, int, int, int, bool> masked = masks switch
        {
            "none" => (_, _, _, _) => false,
            "padding" => (b, _, _, j) => Padding(b, j),
            "attn2d" => (_, _, i, j) => Attn2d(i, j),
            "attn3d" => Attn3d,
            "causal" => (_, _, i, j) => Causal(i, j),
            _ => (b, _, i, j) => Padding(b, j) || Attn2d(i, j) || Causal(i, j),
        };
        Tensor<double>? MaskOf(int[] shape, Func<int[], bool> at)
        {
            var values = new double[shape.Aggregate(1, (a, c) => a * c)];
            var index = new int[shape.Length];
            for (var f = 0; f < values.Length; f++)
            {
                for (int d = shape.Length - 1, rest = f; d >= 0; rest /= shape[d], d--)
                {
                    index[d] = rest % shape[d];
                }

                values[f] = at(index) ? 1 : 0;
            }

            return Tensor.FromArray(values, shape);
        }

        var padding = masks is "padding" or "all" ? MaskOf([n, s], ix => Padding(ix[0], ix[1])) : null;
        var attn = masks switch
        {
            "attn2d" or "all" => MaskOf([l, s], ix => Attn2d(ix[0], ix[1])),
            "attn3d" => MaskOf([n * heads, l, s], ix => Attn3d(ix[0] / heads, ix[0] % heads, ix[1], ix[2])),
            _ => null,
        };
        var causal = masks is "causal" or "all";

        var (refOut, refWeights) = Reference(mha, q, k, v, n, l, s, masked);
        Tensor<double> tq = Tensor.FromArray(q, [n, l, e]), tk = Tensor.FromArray(k, [n, s, e]), tv = Tensor.FromArray(v, [n, s, e]);
        var (composed, weights) = mha.Forward(tq, tk, tv, padding, needWeights: true, attnMask: attn, isCausal: causal);
        var (fused, none) = mha.Forward(tq, tk, tv, padding, needWeights: false, attnMask: attn, isCausal: causal);
        Assert.That(composed.ToArray(), Is.EqualTo(refOut).Within(1e-12));
        Assert.That(weights!.ToArray(), Is.EqualTo(refWeights).Within(1e-12));
        Assert.That(fused.ToArray(), Is.EqualTo(refOut).Within(1e-12));
        Assert.That(none, Is.Null);

        // Gradients of every parameter, on both paths (finite differences; a masked-out key's score is constant).
        var g = Randn([n, l, e], 14);
        foreach (var needWeights in new[] { true, false })
        {
            var result = GradCheck.CheckParameters(
                () => mha.Forward(tq, tk, tv, padding, needWeights, attn, isCausal: causal).Output * g, [.. mha.Parameters()], new GradCheckOptions { FastMode = true });
            Assert.That(result.Passed, Is.True, $"needWeights {needWeights}: {result}");
        }
    }

    [Test]
    public void MultiheadAttention_SelfAttention_ProjectsOnce_AndEqualsSeparateInputs()
    {
        var mha = new MultiheadAttention<double>(4, 2, generator: new Generator(15));
        var x = Randn([3, 2, 4], 16);
        var (self, _) = mha.Forward(x, x, x, isCausal: true, needWeights: false);
        var (separate, _) = mha.Forward(x, x.Clone(), x.Clone(), isCausal: true, needWeights: false);
        Assert.That(self.ToArray(), Is.EqualTo(separate.ToArray()).Within(1e-14));
        var result = GradCheck.CheckParameters(() => mha.Forward(x, x, x, isCausal: true).Output.Tanh(), [.. mha.Parameters()]);
        Assert.That(result.Passed, Is.True, result.ToString());
    }

    [Test]
    public void MultiheadAttention_KeylessQuery_GivesTheOutputBias_AndFiniteGradients()
    {
        var mha = new MultiheadAttention<double>(4, 1, batchFirst: true, generator: new Generator(17));
        using (Tensor.NoGrad())
        {
            mha.OutProj.Bias!.CopyFrom(Tensor.FromArray([1.0, 2.0, 3.0, 4.0]));
        }

        var x = Randn([1, 2, 4], 18);
        var padding = Tensor.FromArray([1.0, 1.0], [1, 2]);
        foreach (var needWeights in new[] { true, false })
        {
            mha.ZeroGrad(setToNone: true);
            var (o, _) = mha.Forward(x, x, x, padding, needWeights);
            Assert.That(o.ToArray(), Is.EqualTo(new[] { 1.0, 2, 3, 4, 1, 2, 3, 4 }).Within(1e-15), "every key is padding: 0 attended, then the bias (PyTorch: NaN)");
            o.Sum().Backward();
            Assert.That(mha.Parameters().SelectMany(p => p.Grad?.ToArray() ?? []), Is.All.Not.NaN);
        }
    }

    [Test]
    public void MultiheadAttention_Dropout_OnlyInTraining_FromItsGenerator()
    {
        MultiheadAttention<double> Make() => new(4, 2, dropout: 0.5, generator: new Generator(19));
        var x = Randn([3, 1, 4], 20);
        var (a, _) = Make().Forward(x, x, x);
        var (b, _) = Make().Forward(x, x, x);
        Assert.That(a.ToArray(), Is.EqualTo(b.ToArray()), "seeded");
        var model = Make();
        var (train, _) = model.Forward(x, x, x, needWeights: false);
        model.Eval();
        var (eval1, _) = model.Forward(x, x, x, needWeights: false);
        var (eval2, _) = model.Forward(x, x, x);
        Assert.That(eval1.ToArray(), Is.EqualTo(eval2.ToArray()).Within(1e-14), "no dropout in eval mode");
        Assert.That(train.ToArray(), Is.Not.EqualTo(eval1.ToArray()));
    }

    [Test]
    public void MultiheadAttention_Errors_NameTheModuleTheArgumentAndTheShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => new MultiheadAttention<double>(10, 3));
        Assert.That(ex!.Message, Does.StartWith("MultiheadAttention: embed_dim must be divisible by num_heads, got embedDim 10, numHeads 3"));
        Assert.That(ex.ParamName, Is.EqualTo("numHeads"));
        Assert.Throws<ArgumentException>(() => new MultiheadAttention<double>(4, 0));
        Assert.Throws<ArgumentException>(() => new MultiheadAttention<double>(4, 2, dropout: 1.5));

        var mha = new MultiheadAttention<double>(4, 2);
        Tensor<double> q = Randn([3, 2, 4], 1), kv = Randn([5, 2, 4], 2);
        const string Shapes = "(query [3, 2, 4], key [5, 2, 4], value [5, 2, 4])";
        ex = Assert.Throws<ArgumentException>(() => mha.Forward(q, kv, kv, keyPaddingMask: Tensor.Zeros<double>(2, 3)));
        Assert.That(ex!.Message, Does.StartWith($"MultiheadAttention: keyPaddingMask must have shape [N, S] = [2, 5], got [2, 3] {Shapes}"));
        Assert.That(ex.ParamName, Is.EqualTo("keyPaddingMask"));
        ex = Assert.Throws<ArgumentException>(() => mha.Forward(q, kv, kv, attnMask: Tensor.Zeros<double>(3, 3)));
        Assert.That(ex!.Message, Does.StartWith($"MultiheadAttention: attnMask must have shape [L, S] = [3, 5] or [N·num_heads, L, S] = [4, 3, 5], got [3, 3] {Shapes}"));
        ex = Assert.Throws<ArgumentException>(() => mha.Forward(q, kv, kv, attnMask: Tensor.Full([3, 5], double.NegativeInfinity)));
        Assert.That(ex!.Message, Does.StartWith("MultiheadAttention: attnMask holds -Infinity at flat position 0; it is a 0/1 mask (1: not allowed to attend, PyTorch's boolean mask); additive float masks are not supported"));
        ex = Assert.Throws<ArgumentException>(() => mha.Forward(q, Randn([5, 2, 3], 3), kv));
        Assert.That(ex!.Message, Does.StartWith("MultiheadAttention: key must have embed_dim = 4 features, got 3 (query [3, 2, 4], key [5, 2, 3]"));
        ex = Assert.Throws<ArgumentException>(() => mha.Forward(q, kv, Randn([4, 2, 4], 4)));
        Assert.That(ex!.Message, Does.StartWith("MultiheadAttention: key and value must have the same sequence length"));
        ex = Assert.Throws<ArgumentException>(() => mha.Forward(q, Randn([5, 3, 4], 5), Randn([5, 3, 4], 5)));
        Assert.That(ex!.Message, Does.StartWith("MultiheadAttention: query, key and value must have the same batch size (query [3, 2, 4], key [5, 3, 4]"));
        ex = Assert.Throws<ArgumentException>(() => mha.Forward(q, Randn([5, 4], 6), Randn([5, 4], 6)));
        Assert.That(ex!.Message, Does.StartWith("MultiheadAttention: key and value must have the rank of the query"));
        ex = Assert.Throws<ArgumentException>(() => mha.Forward(Randn([4], 7), Randn([4], 7), Randn([4], 7)));
        Assert.That(ex!.Message, Does.StartWith("MultiheadAttention: query must be 3-D (batched) or 2-D (unbatched)"));

        Module<double> asModule = mha;
        Assert.That(Assert.Throws<InvalidOperationException>(() => asModule.Forward(q))!.Message, Does.StartWith("MultiheadAttention: attention takes the query, key and value"));
    }
}
