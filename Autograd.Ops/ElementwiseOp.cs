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
    public delegate Tensor<T> BinaryVjp<T>(Tensor<T> g, Tensor<T> a, Tensor<T> b, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    public delegate Tensor<T> UnaryVjp<T>(Tensor<T> g, Tensor<T> x, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>y = op(a, b) with broadcasting; da and db are reduced to a's and b's shapes here.</summary>
    public static Tensor<T> Binary<T, TKernel>(string name, Tensor<T> a, Tensor<T> b, BinaryVjp<T> da, BinaryVjp<T> db)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : IBinaryOp<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var y = Elementwise.Binary<T, TKernel>(a, b, name);
        if (Tape.ShouldRecord(a, b))
        {
            Tape.Record(name, y, [a, b], (g, grads) =>
            {
                if (a.RequiresGrad)
                {
                    grads[0] = da(g, a, b, y).SumToSize(a._shape);
                }

                if (b.RequiresGrad)
                {
                    grads[1] = db(g, a, b, y).SumToSize(b._shape);
                }
            });
        }

        return y;
    }

    /// <summary>y = op(x) elementwise.</summary>
    public static Tensor<T> Unary<T, TKernel>(string name, Tensor<T> x, UnaryVjp<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : IUnaryOp<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Elementwise.Unary<T, TKernel>(x);
        if (Tape.ShouldRecord(x))
        {
            Tape.Record(name, y, [x], (g, grads) => grads[0] = dx(g, x, y));
        }

        return y;
    }

    /// <summary>A contiguous row function for unary ops whose kernel needs parameters (an exponent, bounds, a slope).</summary>
    public delegate void RowFunc<T>(ReadOnlySpan<T> x, Span<T> destination);

    /// <summary>y = row(x) elementwise, with a parameterised row function.</summary>
    public static Tensor<T> Unary<T>(string name, Tensor<T> x, RowFunc<T> row, UnaryVjp<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var n = x.Numel;
        var y = new Tensor<T>(n == 0 ? [] : GC.AllocateUninitializedArray<T>(n), (int[])x._shape.Clone());
        row(x.ContiguousSpan(), y._storage._data);
        if (Tape.ShouldRecord(x))
        {
            Tape.Record(name, y, [x], (g, grads) => grads[0] = dx(g, x, y));
        }

        return y;
    }
}
