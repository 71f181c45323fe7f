using Autograd;

namespace Autograd.Tests.Reliability;

/// <summary>
/// What recording and differentiating cost per op, in allocated bytes (timings are noise on a shared
/// machine, allocations are exact): the tape_10k workload of docs/performance.md, y = y·s₁ + s₂ on a
/// one-element tensor, with call sites recorded. The bounds are the figures reached (docs/performance.md,
/// "Tape overhead") plus 4 bytes, so that one more field on a tensor, storage or node fails them.
/// </summary>
public class TapeCostTests
{
    private const int Pairs = 5000;

    /// <summary>Forward: result tensor (64 B) and its storage with the element inline (48 B), and the node that is its own VJP (136 B).</summary>
    private const double ForwardBytesPerOp = 248;

    /// <summary>Literal scalars stay values (ElementwiseOp.WithScalar): no tensor for the scalar operand, the same bytes.</summary>
    private const double LiteralForwardBytesPerOp = 248;

    /// <summary>Backward: Mul's gradient (tensor and storage, 112 B) every other op; Add passes its gradient through.</summary>
    private const double BackwardBytesPerOp = 56;

    private const double Slack = 4;

    private static (double Forward, double Backward) BytesPerOp(bool literal)
    {
        var x = Tensor.FromArray([1f], [1], requiresGrad: true);
        var s1 = Tensor.Scalar(1.0001f);
        var s2 = Tensor.Scalar(0.0001f);
        var y = x;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Pairs; i++)
        {
            if (literal)
            {
                y = y * 1.0001f;
                y = y + 0.0001f;
            }
            else
            {
                y = y.Mul(s1);
                y = y.Add(s2);
            }
        }

        var forward = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(y.GradFn!.CallSite.IsKnown, Is.EqualTo(!literal));
        before = GC.GetAllocatedBytesForCurrentThread();
        y.Backward();
        var backward = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(x.Grad!.Item(), Is.EqualTo(MathF.Pow(1.0001f, Pairs)).Within(1e-3));
        return (forward / (2.0 * Pairs), backward / (2.0 * Pairs));
    }

    /// <summary>The smaller of two runs after a warm-up (JIT, the pass's pooled arrays), per op.</summary>
    private static (double Forward, double Backward) Measure(bool literal)
    {
        BytesPerOp(literal);
        var (f1, b1) = BytesPerOp(literal);
        var (f2, b2) = BytesPerOp(literal);
        var result = (Math.Min(f1, f2), Math.Min(b1, b2));
        TestContext.Out.WriteLine($"{(literal ? "literal" : "prealloc")} scalars: forward {result.Item1:F1} B/op, backward {result.Item2:F1} B/op");
        return result;
    }

    [Test]
    public void RecordingAScalarOp_AllocatesAtMost_BytesPerOp()
    {
        Assert.That(Measure(literal: false).Forward, Is.LessThanOrEqualTo(ForwardBytesPerOp + Slack));
        Assert.That(Measure(literal: true).Forward, Is.LessThanOrEqualTo(LiteralForwardBytesPerOp + Slack));
    }

    [Test]
    public void BackwardThroughAScalarChain_AllocatesAtMost_BytesPerOp()
    {
        // The pass's node list, index and per-node arrays are pooled: only the gradients themselves remain.
        Assert.That(Measure(literal: false).Backward, Is.LessThanOrEqualTo(BackwardBytesPerOp + Slack));
        Assert.That(Measure(literal: true).Backward, Is.LessThanOrEqualTo(BackwardBytesPerOp + Slack));
    }
}
