using System.Numerics;
using System.Runtime.Intrinsics;
using Autograd.Kernels;
using Autograd.Tests.Support;

namespace Autograd.Tests.Kernels;

/// <summary>
/// The kernels at both of their vector widths (<c>Simd.Width</c>): the widest this machine has and 256 bits
/// (<c>Simd.ForceVector256</c>, the width of machines without AVX-512). Every output element of the GEMMs and
/// of max-pooling is summed (or compared) in the same order whatever the width, so the ops built on them give
/// the same bits at both, forward and backward.
/// </summary>
[NonParallelizable] // Toggles the kernels' process-wide width switch.
public class VectorWidthTests
{
    [Test]
    public void TheSwitch_TakesTheWidthTo256Bits()
    {
        var widest = Vector512.IsHardwareAccelerated ? VectorWidth.Vector512 : Vector256.IsHardwareAccelerated ? VectorWidth.Vector256 : VectorWidth.None;
        Assert.That(KernelWidth.Run(false, Simd.Width<float>), Is.EqualTo(widest));
        Assert.That(KernelWidth.Run(false, Simd.Width<double>), Is.EqualTo(widest));
        Assert.That(KernelWidth.Run(true, Simd.Width<float>), Is.EqualTo(Vector256.IsHardwareAccelerated ? VectorWidth.Vector256 : VectorWidth.None));
    }

    [Test]
    public void MatMulAndMaxPool2d_GiveTheSameBits_AtBothWidths()
    {
        Assume.That(Vector512.IsHardwareAccelerated, "one width only on this machine");
        AssertSameBits(Run<float>);
        AssertSameBits(Run<double>);
    }

    private static void AssertSameBits<T>(Func<List<T[]>> run)
    {
        var widest = KernelWidth.Run(false, run);
        var narrow = KernelWidth.Run(true, run);
        Assert.That(narrow, Has.Count.EqualTo(widest.Count));
        for (var i = 0; i < widest.Count; i++)
        {
            Assert.That(narrow[i], Is.EqualTo(widest[i]), $"{typeof(T).Name} result {i}");
        }
    }

    /// <summary>Products through the packed GEMM (ragged tiles, a transposed operand) and both max-pool paths, with their gradients.</summary>
    private static List<T[]> Run<T>()
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var g = new Generator(31);
        var results = new List<T[]>();
        var a = Tensor.Randn<T>([37, 70], g, requiresGrad: true);
        var b = Tensor.Randn<T>([45, 70], g, requiresGrad: true);
        var y = a.MatMul(b.Transpose(0, 1));
        y.Backward(Tensor.Randn<T>(y.Shape, g));
        results.AddRange([y.ToArray(), a.Grad!.ToArray(), b.Grad!.ToArray()]);

        var x = Tensor.Randn<T>([2, 3, 20, 22], g, requiresGrad: true);
        var p = x.MaxPool2d(2);
        var q = x.MaxPool2d(3, stride: 2, padding: 1);
        (p.Sum() + (q * q).Sum()).Backward();
        results.AddRange([p.ToArray(), q.ToArray(), x.Grad!.ToArray()]);
        return results;
    }
}
