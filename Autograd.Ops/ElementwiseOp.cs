using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// The shared plumbing of elementwise ops: run the kernel, and when recording, attach the op's VJP
/// formulas. Each op file passes its kernel struct and its formulas as static lambdas of
/// (g, inputs..., output), so the formula stays next to the op's entry point.
/// </summary>
internal static class ElementwiseOp
{
    /// <summary>Which tensors an elementwise VJP reads (their versions are checked before it runs).</summary>
    [Flags]
    public enum Saves
    {
        None = 0,
        A = 1,
        B = 2,
        Output = 4,
        Input = A,
    }

    public delegate Tensor<T> BinaryVjp<T>(Tensor<T> g, Tensor<T> a, Tensor<T> b, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    public delegate Tensor<T> UnaryVjp<T>(Tensor<T> g, Tensor<T> x, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// y = op(a, b) with broadcasting; da and db are reduced to a's and b's shapes here. Each formula
    /// comes with the tensors it reads (<paramref name="daReads"/>, <paramref name="dbReads"/>).
    /// </summary>
    public static Tensor<T> Binary<T, TKernel>(string name, CallSite site, Tensor<T> a, Tensor<T> b, Saves daReads, BinaryVjp<T> da, Saves dbReads, BinaryVjp<T> db)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : IBinaryOp<T>
    {
        Tensor<T>.ThrowIfNullArgument(a, name, nameof(a));
        Tensor<T>.ThrowIfNullArgument(b, name, nameof(b));
        var y = Elementwise.Binary<T, TKernel>(a, b, name);
        if (Tape.ShouldRecord(a, b))
        {
            // Only what the wanted gradients read is saved (PyTorch: mul saves b for da only when a needs grad).
            // Decided now, at record time: what the graph wants does not change if RequiresGrad does later.
            var (needA, needB) = (a.RequiresGrad, b.RequiresGrad);
            var saves = (needA ? daReads : Saves.None) | (needB ? dbReads : Saves.None);
            Tape.Record(name, site, y, [a, b], (g, grads) =>
            {
                if (needA)
                {
                    grads[0] = da(g, a, b, y).SumToSize(a._shape);
                }

                if (needB)
                {
                    grads[1] = db(g, a, b, y).SumToSize(b._shape);
                }
            },
            (saves & Saves.A) != 0 ? a : null,
            (saves & Saves.B) != 0 ? b : null,
            (saves & Saves.Output) != 0 ? y : null);
        }

        return y;
    }

    /// <summary>y = op(x) elementwise.</summary>
    public static Tensor<T> Unary<T, TKernel>(string name, CallSite site, Tensor<T> x, Saves saves, UnaryVjp<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : IUnaryOp<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Elementwise.Unary<T, TKernel>(x);
        if (Tape.ShouldRecord(x))
        {
            Tape.Record(
                name, site, y, [x], (g, grads) => grads[0] = dx(g, x, y),
                (saves & Saves.Input) != 0 ? x : null,
                (saves & Saves.Output) != 0 ? y : null);
        }

        return y;
    }

    /// <summary>A contiguous row function for unary ops whose kernel needs parameters (an exponent, bounds, a slope).</summary>
    public delegate void RowFunc<T>(ReadOnlySpan<T> x, Span<T> destination);

    /// <summary>y = row(x) elementwise, with a parameterised row function.</summary>
    public static Tensor<T> Unary<T>(string name, CallSite site, Tensor<T> x, RowFunc<T> row, Saves saves, UnaryVjp<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Elementwise.Unary(x, row);
        if (Tape.ShouldRecord(x))
        {
            Tape.Record(
                name, site, y, [x], (g, grads) => grads[0] = dx(g, x, y),
                (saves & Saves.Input) != 0 ? x : null,
                (saves & Saves.Output) != 0 ? y : null);
        }

        return y;
    }
}
