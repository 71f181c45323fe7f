using Autograd;
using Autograd.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Tests.Testing;

/// <summary>
/// The arbitraries generate only valid cases (checked against the real ops' output shapes) and shrink
/// to the simplest one: a property that always fails must end at the global minimum.
/// </summary>
public class GeneratorTests
{
    private static T[] Sample<T>(Arbitrary<T> arb, int count = 200) => arb.Generator.Sample(count, 10);

    /// <summary>The case a property failing on every input shrinks to.</summary>
    private static object MinimumOf<T>(Arbitrary<T> arb)
    {
        var e = Assert.Throws<GradPropertyException>(() => GradProperty.Check(Prop.ForAll(arb, (T _) => false), maxTest: 1));
        return e!.Failure!.MinimalCase;
    }

    /// <summary>Follows the first shrink candidate until there is none: what a property failing on everything does.</summary>
    private static T ShrinkFully<T>(Arbitrary<T> arb, T start) => ShrinkWhile(arb, start, _ => true);

    /// <summary>What FsCheck does with a property that fails exactly when <paramref name="fails"/> holds.</summary>
    private static T ShrinkWhile<T>(Arbitrary<T> arb, T start, Func<T, bool> fails)
    {
        var current = start;
        for (var steps = 0; arb.Shrinker(current).FirstOrDefault(fails) is { } next; steps++)
        {
            Assert.That(steps, Is.LessThan(1000), $"shrinking from {start} does not end");
            current = next;
        }

        return current;
    }

    private static int[] ConvOutputShape(Conv2dCase c)
    {
        var xs = c.Inputs.Select(i => i.ApplyView(i.MakeLeaf())).ToArray();
        using (Tensor.NoGrad())
        {
            return xs[0].Conv2d(xs[1], c.Bias ? xs[2] : null, c.Stride, c.Padding, c.Dilation, c.Groups).Shape;
        }
    }

    private static Tensor<double> Pool(MaxPool2dCase c)
    {
        var x = c.Inputs[0].ApplyView(c.Inputs[0].MakeLeaf());
        using (Tensor.NoGrad())
        {
            return x.MaxPool2d((c.KernelH, c.KernelW), c.Stride, c.Padding, c.Dilation, c.CeilMode);
        }
    }

    private static int[] MatMulShape(MatMulCase c)
    {
        var xs = c.Inputs.Select(i => i.ApplyView(i.MakeLeaf())).ToArray();
        using (Tensor.NoGrad())
        {
            return xs[0].MatMul(xs[1]).Shape;
        }
    }

    [Test]
    public void Shape_StaysInBounds_AndShrinksToTheFewestOnes()
    {
        var arb = Arbitraries.Shape(minRank: 1, maxRank: 4, maxDim: 5);
        Assert.That(Sample(arb), Has.All.Matches<int[]>(s => s.Length is >= 1 and <= 4 && s.All(d => d is >= 1 and <= 5)));
        Assert.That(MinimumOf(arb), Is.EqualTo(new[] { 1 }));
        Assert.That(arb.Shrinker([3, 1, 2]), Has.All.Matches<int[]>(s => s.Length < 3 || s.Sum() < 6));
    }

    [Test]
    public void Tensor_ShrinksToARankZeroContiguousIntegerSample()
    {
        var minimal = (TensorCase)MinimumOf(Arbitraries.Tensor(lo: -4, hi: 4));
        Assert.That(minimal.Shape, Is.Empty);
        Assert.That(minimal.Inputs[0].EffectiveView, Is.EqualTo(ViewKind.Contiguous));
        Assert.That(minimal.Decimals, Is.EqualTo(0));
        Assert.That((minimal.Lo, minimal.Hi), Is.EqualTo((-1.0, 1.0)), "values towards small numbers");
        Assert.That(minimal.Inputs[0].LeafValues(), Has.All.Matches<double>(v => v is -1 or 0 or 1));
    }

    [Test]
    public void Tensor_Views_GiveTheRequestedShapeThroughTheRequestedLayout()
    {
        foreach (var c in Sample(Arbitraries.Tensor(minRank: 2, maxRank: 3, maxDim: 3, lo: 2, hi: 3)))
        {
            var sample = c.Inputs[0];
            var leaf = sample.MakeLeaf();
            var x = sample.ApplyView(leaf);
            Assert.That(x.Shape, Is.EqualTo(c.Shape));
            Assert.That(x.ToArray(), Has.All.InRange(2.0, 3.0));
            switch (sample.EffectiveView)
            {
                case ViewKind.Transposed:
                    Assert.That(x.Strides[^2..], Is.EqualTo(leaf.Strides[^2..].Reverse()));
                    break;
                case ViewKind.Sliced:
                    Assert.That((x.Offset, x.Strides[^1]), Is.EqualTo((1, 2)));
                    break;
                case ViewKind.Expanded:
                    Assert.That((leaf.Shape[0], x.Strides[0]), Is.EqualTo((1, 0)));
                    break;
                default:
                    Assert.That(x, Is.SameAs(leaf));
                    break;
            }
        }
    }

    [Test]
    public void Conv2d_CasesAreValidForTheRealOp()
    {
        foreach (var c in Sample(Arbitraries.Conv2d(), 150))
        {
            Assert.That(c.IsValid, Is.True, c.ToString());
            Assert.That(ConvOutputShape(c), Is.EqualTo(c.OutputShape), c.ToString());
        }
    }

    [Test]
    public void Conv2d_ShrinksToOneByOneEverything()
    {
        var minimal = (Conv2dCase)MinimumOf(Arbitraries.Conv2d());
        Assert.That(minimal with { Seed = 0, Views = [], Decimals = null }, Is.EqualTo(new Conv2dCase(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, false)));
        Assert.That(minimal.Decimals, Is.EqualTo(0));
    }

    [Test]
    public void Conv2d_ShrinkCandidates_AreValidForTheRealOpAndSmaller()
    {
        foreach (var c in Sample(Arbitraries.Conv2d(), 30))
        {
            foreach (var s in Arbitraries.Conv2d().Shrinker(c))
            {
                Assert.That(s.IsValid, Is.True, $"{s} from {c}");
                Assert.That(ConvOutputShape(s), Is.EqualTo(s.OutputShape), $"{s} from {c}");
                Assert.That(Size(s), Is.LessThanOrEqualTo(Size(c)));
            }
        }

        static int Size(Conv2dCase c) =>
            c.N + c.C + c.H + c.W + c.F + c.Groups + c.KernelH + c.KernelW + c.Stride + c.Padding + c.Dilation + (c.Bias ? 1 : 0);
    }

    [Test]
    public void Conv2d_FixedBias_IsKeptWhileShrinking()
    {
        var minimal = (Conv2dCase)MinimumOf(Arbitraries.Conv2d(bias: true));
        Assert.That(minimal.Bias, Is.True);
        Assert.That(minimal.Shapes, Has.Count.EqualTo(3));
    }

    [Test]
    public void MaxPool2d_CasesAreValidForTheRealOp()
    {
        var sawCeil = false;
        var sawPadding = false;
        foreach (var c in Sample(Arbitraries.MaxPool2d(), 200))
        {
            Assert.That(c.IsValid, Is.True, c.ToString());
            Assert.That(c.Padding, Is.LessThanOrEqualTo(Math.Min(c.KernelH, c.KernelW) / 2));
            sawCeil |= c.CeilMode;
            sawPadding |= c.Padding > 0;
            var y = Pool(c);
            Assert.That(y.Shape, Is.EqualTo(c.OutputShape), c.ToString());
            Assert.That(y.ToArray(), Has.All.Matches<double>(double.IsFinite), $"a window of padding only in {c}");
        }

        Assert.That(sawCeil && sawPadding, Is.True);
    }

    [TestCase(2, 1, 2, 0, 1, true, 1, TestName = "CeilMode_LastWindowWouldStartPastTheInput_IsDropped")]
    [TestCase(5, 2, 2, 0, 1, true, 3, TestName = "CeilMode_RoundsUp")]
    [TestCase(5, 2, 2, 0, 1, false, 2, TestName = "FloorMode_RoundsDown")]
    [TestCase(4, 3, 1, 1, 2, false, 2, TestName = "Dilation_WithPadding")]
    public void MaxPool2d_OutputSize_MatchesTheOp(int size, int kernel, int stride, int padding, int dilation, bool ceil, int expected)
    {
        var c = new MaxPool2dCase(1, 1, size, size, kernel, kernel, stride, padding, dilation, ceil);
        Assert.That(c.IsValid, Is.True);
        Assert.That(c.OutputH, Is.EqualTo(expected));
        Assert.That(Pool(c).Shape, Is.EqualTo(c.OutputShape));
    }

    [Test]
    public void MaxPool2d_FromAnAwkwardStart_StillShrinksToOneByOne()
    {
        // Kernel 2 with padding 1 over a 1×1 input: neither the kernel nor the padding can shrink alone
        // (padding ≤ kernel / 2; an output needs input ≥ dilated kernel − 2·padding), only together.
        var start = new MaxPool2dCase(1, 1, 1, 1, 2, 2, 1, 1, 1, false);
        Assert.That(start.IsValid, Is.True);
        var minimal = ShrinkFully(Arbitraries.MaxPool2d(), start);
        Assert.That(minimal with { Decimals = null }, Is.EqualTo(new MaxPool2dCase(1, 1, 1, 1, 1, 1, 1, 0, 1, false)));
    }

    [Test]
    public void MatMul_CasesAreValidForTheRealOp_AndCoverVectorsAndBroadcasting()
    {
        var cases = Sample(Arbitraries.MatMul(), 300);
        foreach (var c in cases)
        {
            Assert.That(c.IsValid, Is.True, c.ToString());
            Assert.That(MatMulShape(c), Is.EqualTo(c.OutputShape), c.ToString());
        }

        Assert.That(cases.Any(c => c.AVector && c.BVector), "1-D · 1-D");
        Assert.That(cases.Any(c => c.AVector && !c.BVector && c.BBatch.Length > 0), "1-D · batched");
        Assert.That(cases.Any(c => c.ABatch.Length != c.BBatch.Length && !c.AVector && !c.BVector), "batch dimensions on one side only");
        Assert.That(cases.Any(c => c.ABatch.Zip(c.BBatch.Reverse().Take(c.ABatch.Length).Reverse()).Any(p => p.First != p.Second)), "a size-1 batch dimension against a larger one");
    }

    [Test]
    public void MatMul_ShrinksToTwoVectorsOfOne()
    {
        var minimal = (MatMulCase)MinimumOf(Arbitraries.MatMul());
        Assert.That(minimal.AShape, Is.EqualTo(new[] { 1 }));
        Assert.That(minimal.BShape, Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public void MatMul_ShrinkCandidates_AreValidForTheRealOp()
    {
        foreach (var c in Sample(Arbitraries.MatMul(), 100))
        {
            foreach (var s in Arbitraries.MatMul().Shrinker(c))
            {
                Assert.That(s.IsValid, Is.True, $"{s} from {c}");
                Assert.That(MatMulShape(s), Is.EqualTo(s.OutputShape), $"{s} from {c}");
            }
        }
    }

    [Test]
    public void MaxPool2d_KernelShrinksAlone_WhenOnlyTheOtherDimensionMatters()
    {
        // A failure that needs a kernel 3 wide: the height shrinks to 1 although the padding must go with it.
        var start = new MaxPool2dCase(1, 1, 1, 4, 2, 3, 1, 1, 1, false);
        var minimal = ShrinkWhile(Arbitraries.MaxPool2d(), start, c => c.KernelW == 3);
        Assert.That((minimal.KernelH, minimal.KernelW, minimal.Padding, minimal.H), Is.EqualTo((1, 3, 0, 1)));
    }

    [Test]
    public void MatMul_EqualBatchSizes_ShrinkTogether()
    {
        // A failure that needs the same batch size > 1 on both sides (no broadcasting) ends at [2] and [2].
        var start = new MatMulCase([3], [3], 2, 2, 2, false, false);
        var minimal = ShrinkWhile(Arbitraries.MatMul(), start, c => c.ABatch is [> 1] && c.BBatch is [> 1]);
        Assert.That((minimal.ABatch, minimal.BBatch), Is.EqualTo((new[] { 2 }, new[] { 2 })));
        Assert.That((minimal.N, minimal.K, minimal.M), Is.EqualTo((1, 1, 1)));
    }

    [Test]
    public void InvalidParameterSets_AreRejected()
    {
        Assert.That(new Conv2dCase(1, 3, 4, 4, 2, 2, 1, 1, 1, 0, 1, false).IsValid, Is.False, "groups must divide the channels");
        Assert.That(new Conv2dCase(1, 2, 2, 2, 2, 1, 3, 1, 1, 0, 1, false).IsValid, Is.False, "no output row");
        Assert.That(new MaxPool2dCase(1, 1, 4, 4, 2, 2, 1, 2, 1, false).IsValid, Is.False, "padding over half the kernel");
        Assert.That(new MaxPool2dCase(1, 1, 1, 1, 3, 3, 1, 1, 2, false).IsValid, Is.False, "a window of padding only");
        Assert.That(new MatMulCase([2], [3], 1, 1, 1, false, false).IsValid, Is.False, "batch sizes 2 and 3 do not broadcast");
        Assert.That(new MatMulCase([2], [], 1, 1, 1, true, false).IsValid, Is.False, "a vector has no batch");
        Assert.That(new MatMulCase([2, 1], [3], 1, 1, 1, false, false).IsValid, Is.True);
    }

    [Test]
    public void Shrinking_FromAnyGeneratedCase_ReachesTheMinimum()
    {
        // No generated case gets stuck where every single-step shrink is invalid.
        var conv = Arbitraries.Conv2d(maxSize: 7, maxKernel: 4, maxStride: 3, maxPadding: 2, maxDilation: 3);
        foreach (var c in Sample(conv, 300))
        {
            Assert.That(ShrinkFully(conv, c) with { Seed = 0, Views = [], Decimals = null }, Is.EqualTo(new Conv2dCase(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, false)), c.ToString());
        }

        var pool = Arbitraries.MaxPool2d(maxSize: 7, maxKernel: 4, maxPadding: 2, maxDilation: 3);
        foreach (var c in Sample(pool, 300))
        {
            Assert.That(ShrinkFully(pool, c) with { Seed = 0, Views = [], Decimals = null }, Is.EqualTo(new MaxPool2dCase(1, 1, 1, 1, 1, 1, 1, 0, 1, false)), c.ToString());
        }

        var matmul = Arbitraries.MatMul(maxBatchRank: 3);
        foreach (var c in Sample(matmul, 300))
        {
            var minimal = ShrinkFully(matmul, c);
            Assert.That((minimal.AShape, minimal.BShape), Is.EqualTo((new[] { 1 }, new[] { 1 })), c.ToString());
        }
    }

    [Test]
    public void GradProperties_OverTheBuiltInOps_Pass()
    {
        // The one-line form, on ops other engineers own: the generated cases are ones the ops accept and
        // differentiate correctly, so a failure here would be a generator bug (or a real op bug).
        GradProperty.Check(Arbitraries.Tensor(), x => x.Tanh(), maxTest: 30);
        GradProperty.Check(Arbitraries.MatMul(maxDim: 3), (c, xs) => xs[0].MatMul(xs[1]), maxTest: 30);
        GradProperty.Check(
            Arbitraries.Conv2d(maxSize: 4),
            (c, xs) => xs[0].Conv2d(xs[1], c.Bias ? xs[2] : null, c.Stride, c.Padding, c.Dilation, c.Groups),
            new GradCheckOptions { FastMode = true },
            maxTest: 30);
        GradProperty.Check(
            Arbitraries.MaxPool2d(maxSize: 5),
            (c, xs) => xs[0].MaxPool2d((c.KernelH, c.KernelW), c.Stride, c.Padding, c.Dilation, c.CeilMode),
            maxTest: 30);
    }
}
