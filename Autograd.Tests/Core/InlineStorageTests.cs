using Autograd;

namespace Autograd.Tests.Core;

/// <summary>
/// A one-element storage keeps its element in a field instead of an array: reads and writes through
/// Span and Memory, views, kernels that take Memory, and gradients must not tell the difference.
/// </summary>
public class InlineStorageTests
{
    [Test]
    public void SpanAndMemory_ReadAndWriteTheOneElement()
    {
        var s = Tensor.Scalar(2.5f);
        Assert.That(s.Storage.Length, Is.EqualTo(1));
        Assert.That(s.Storage.IsPooled, Is.False);
        Assert.That(s.Storage.Memory.Span[0], Is.EqualTo(2.5f));

        s.Storage.Span[0] = 3f;
        Assert.That(s.Item(), Is.EqualTo(3f));
        var memory = s.Storage.Memory;
        memory.Span[0] = 4f;
        Assert.That(s.Item(), Is.EqualTo(4f));
        Assert.That(memory.Slice(1).Length, Is.Zero);
        Assert.Throws<NotSupportedException>(() => memory.Pin());

        // A fresh one-element result starts where an op leaves it; a zero-filled one is zero.
        var z = Tensor<double>.ZeroFilled([1, 1]);
        Assert.That(z.Item(), Is.EqualTo(0.0));
        Assert.That(z.Storage.Length, Is.EqualTo(1));
    }

    [Test]
    public void ViewsAndKernels_OverAOneElementStorage_SeeItsValue()
    {
        var a = Tensor.FromArray(new[] { 3.0 }, [1], requiresGrad: true);
        var y = a.Mul(Tensor.Scalar(2.0));                    // a one-element result: inline storage
        var wide = y.Reshape(1, 1).Expand(2, 3);              // stride-0 view of the inline element
        Assert.That(wide.ToArray(), Is.All.EqualTo(6.0));

        // MatMul hands its operands to the GEMM as Memory.
        var w = Tensor.FromArray(new[] { 0.5 }, [1, 1], requiresGrad: true);
        var p = y.Reshape(1, 1).MatMul(w);
        Assert.That(p.Item(), Is.EqualTo(3.0));

        var loss = wide.Sum().Add(p.Sum());                   // 6·6 + 3 = 39
        Assert.That(loss.Item(), Is.EqualTo(39.0));
        loss.Backward();

        // dloss/dy = 6 + w = 6.5, dy/da = 2; dloss/dw = y = 6.
        Assert.That(a.Grad!.Item(), Is.EqualTo(13.0));
        Assert.That(w.Grad!.Item(), Is.EqualTo(6.0));
    }

    [Test]
    public void InPlaceWrites_ToAOneElementStorage_BumpItsVersion_AndAreSeenByEveryView()
    {
        var x = Tensor.Scalar(1f);
        var view = x.Reshape(1);
        var version = x.Storage.Version;
        using (Tensor.NoGrad())
        {
            view.AddInPlace(Tensor.Scalar(2f));
        }

        Assert.That(x.Item(), Is.EqualTo(3f));
        Assert.That(x.Storage.Version, Is.EqualTo(version + 1));
    }
}
