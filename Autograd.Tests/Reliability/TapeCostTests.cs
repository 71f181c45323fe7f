using Autograd;

namespace Autograd.Tests.Reliability;

/// <summary>
/// What recording costs per op on the forward side, in allocated bytes (timings are noise on a shared
/// machine, allocations are exact): the tape_10k workload of docs/performance.md, y = y·s₁ + s₂ on a
/// one-element tensor, with call sites recorded.
/// </summary>
public class TapeCostTests
{
    private const int Pairs = 5000;

    private static long ForwardBytes(bool literal)
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

        var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(y.GradFn!.CallSite.IsKnown, Is.EqualTo(!literal));
        y.Backward();
        Assert.That(x.Grad!.Item(), Is.EqualTo(MathF.Pow(1.0001f, Pairs)).Within(1e-3));
        return bytes;
    }

    [Test]
    public void RecordingAScalarOp_AllocatesAtMost_BytesPerOp()
    {
        ForwardBytes(literal: false);
        var prealloc = ForwardBytes(literal: false) / (2.0 * Pairs);
        var literal = ForwardBytes(literal: true) / (2.0 * Pairs);
        TestContext.Out.WriteLine($"forward bytes/op: prealloc scalars {prealloc:F0}, literal scalars {literal:F0}");
        Assert.That(prealloc, Is.LessThanOrEqualTo(480));
        Assert.That(literal, Is.LessThanOrEqualTo(624));
    }
}
