using Autograd;
using Autograd.Kernels;
using Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Tests.Ops;

/// <summary>
/// The float register-tile path of ScaledDotProductAttention (AttentionTiles: AVX-512, no mask, bias or dropout, E
/// and Ev multiples of 16): output and gradients against the same call in double (the general path, itself checked
/// against the composed reference in AttentionTests), over generated shapes that cross its 8- and 4-row groups, its
/// 64-column tiles, its blocks of queries and a key count that is not a multiple of 16, causal or not, on separate tensors
/// or on the GPT's transposed views, with any subset of the inputs requiring grad.
/// Each test runs twice: with the forward keeping the probabilities where they are small (the GPT's shapes), and with the
/// backward always recomputing them.
/// </summary>
[Category("GradProperty")]
[TestFixture(true)]
[TestFixture(false)]
[NonParallelizable] // Flips the process-wide switch AttentionTiles.KeepProbabilitiesDisabled.
public class AttentionTilesTests(bool keepProbabilities)
{
    [SetUp]
    public void Keep() => AttentionTiles.KeepProbabilitiesDisabled = !keepProbabilities;

    [TearDown]
    public void Restore() => AttentionTiles.KeepProbabilitiesDisabled = false;

    [Test]
    public void ASecondBackward_ReadsTheSameProbabilities()
    {
        var g = new Generator(11);
        var x = Tensor.Randn<float>([2, 40, 3 * 2 * 32], g, requiresGrad: true);
        var (q, k, v) = AttentionTests.Heads(x, 2);
        var y = Tensor.ScaledDotProductAttention(q, k, v, isCausal: true);
        var dy = Tensor.Randn<float>(y.ShapeArray, g);
        var first = Tensor.Grad([y], [x], [dy], retainGraph: true)[0]!.ToArray();
        var second = Tensor.Grad([y], [x], [dy])[0]!.ToArray();
        Assert.That(second, Is.EqualTo(first));
    }

    [Test]
    public void FloatTiles_MatchTheDoublePath()
    {
        var spec = new CaseSpec()
            .Int("b", 1, 2).Int("h", 1, 3).Int("l", 1, 90).Int("s", 1, 90).Int("e", 1, 5).Int("ev", 1, 3)
            .Int("causal", 0, 1).Int("gpt", 0, 1).Int("needs", 1, 7).Int("cotangent", 0, 2);
        GradProperty.Check(Prop.ForAll(spec.Arbitrary(), c => Agrees(c["b"], c["h"], c["l"], c["s"], 16 * c["e"], 16 * c["ev"], c["causal"] == 1, c["gpt"] == 1, c["needs"], (ulong)c.Seed, c["cotangent"])), maxTest: 60);
    }

    [TestCase(12, 4, 64, 64, 32, 32, true, true, 7)]      // the GPT's attention
    [TestCase(8, 8, 256, 256, 64, 64, true, false, 7)]    // the benchmark's large shape: 4 blocks of queries
    [TestCase(2, 2, 300, 37, 80, 48, false, false, 7)]    // 80 features: a 64-wide tile and a 16-wide one
    [TestCase(1, 1, 9, 130, 16, 16, true, false, 6)]      // more keys than queries, q not requiring grad
    [TestCase(1, 2, 200, 300, 32, 16, false, false, 7)]   // 48-query blocks (300 keys), not causal: dK and dV summed over 5 blocks
    [TestCase(1, 1, 100, 300, 16, 16, true, false, 7)]    // causal over 3 blocks, keys 100 … 299 seen by no query
    [TestCase(1, 1, 300, 100, 16, 32, true, false, 5)]    // causal, more queries than keys: two 160-query blocks
    public void FloatTiles_MatchTheDoublePath_AtFixedShapes(int b, int h, int l, int s, int e, int ev, bool causal, bool gpt, int needs) =>
        Assert.That(Agrees(b, h, l, s, e, ev, causal, gpt, needs, 3), Is.True);

    [TestCase(1)]
    [TestCase(2)]
    public void FloatTiles_CopyACotangentWithStridedRows(int cotangent) =>
        Assert.That(Agrees(2, 3, 40, 40, 32, 32, true, true, 7, 4, cotangent), Is.True);

    // cotangent 0: contiguous; 1: a transposed view (rows strided); 2: one value broadcast (a Sum's gradient).
    private static bool Agrees(int b, int h, int l, int s, int e, int ev, bool causal, bool gpt, int needs, ulong seed, int cotangent = 0)
    {
        if (gpt)
        {
            (s, ev) = (l, e);
        }

        var g = new Generator(seed);
        Tensor<float>[] leaves;
        Tensor<float> q, k, v;
        Tensor<double>[] leavesD;
        Tensor<double> qd, kd, vd;
        if (gpt)
        {
            var x = Tensor.Randn<float>([b, l, 3 * h * e], g, requiresGrad: true);
            var xd = Tensor.FromArray(x.ToArray().Select(f => (double)f).ToArray(), x.ShapeArray, requiresGrad: true);
            (q, k, v) = AttentionTests.Heads(x, h);
            (qd, kd, vd) = AttentionTests.Heads(xd, h);
            (leaves, leavesD) = ([x], [xd]);
        }
        else
        {
            (q, qd) = Pair([b, h, l, e], g, (needs & 1) != 0);
            (k, kd) = Pair([b, h, s, e], g, (needs & 2) != 0);
            (v, vd) = Pair([b, h, s, ev], g, (needs & 4) != 0);
            leaves = [.. new[] { q, k, v }.Where(t => t.RequiresGrad)];
            leavesD = [.. new[] { qd, kd, vd }.Where(t => t.RequiresGrad)];
        }

        var dy = cotangent switch
        {
            0 => Tensor.Randn<float>([b, h, l, ev], g),
            1 => Tensor.Randn<float>([b, h, ev, l], g).Transpose(-1, -2),
            _ => Tensor.Randn<float>([1], g).Expand(b, h, l, ev),
        };
        var y = Tensor.ScaledDotProductAttention(q, k, v, isCausal: causal);
        var yd = Tensor.ScaledDotProductAttention(qd, kd, vd, isCausal: causal);
        var grads = Tensor.Grad(y, leaves, dy);
        var gradsD = Tensor.Grad(yd, leavesD, Tensor.FromArray(dy.ToArray().Select(f => (double)f).ToArray(), dy.ShapeArray));
        var ok = Close(y, yd, "output");
        for (var i = 0; i < leaves.Length; i++)
        {
            ok &= Close(grads[i]!, gradsD[i]!, $"gradient {i}");
        }

        return ok;
    }

    private static (Tensor<float>, Tensor<double>) Pair(int[] shape, Generator g, bool requiresGrad)
    {
        var f = Tensor.Randn<float>(shape, g, requiresGrad);
        return (f, Tensor.FromArray(f.ToArray().Select(x => (double)x).ToArray(), shape, requiresGrad));
    }

    /// <summary>Within float's rounding of sums over at most a few hundred terms: 2e-5 of 1 + the largest magnitude, elementwise.</summary>
    private static bool Close(Tensor<float> actual, Tensor<double> expected, string what)
    {
        var (a, x) = (actual.ToArray(), expected.ToArray());
        var scale = x.Select(Math.Abs).DefaultIfEmpty(0).Max() + 1;   // cancellation (one key: dQ is 0) leaves rounding of O(1) terms
        var worst = a.Zip(x, (p, r) => Math.Abs(p - r)).DefaultIfEmpty(0).Max();
        if (!(worst <= 2e-5 * scale) || !actual.ShapeArray.SequenceEqual(expected.ShapeArray))
        {
            TestContext.Out.WriteLine($"{what}: largest difference {worst:E2} against a largest magnitude {scale:E2}");
            return false;
        }

        return true;
    }
}
