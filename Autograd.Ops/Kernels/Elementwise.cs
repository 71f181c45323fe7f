using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>An elementwise binary operation: a scalar form and the three SIMD row forms.</summary>
internal interface IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    static abstract T Invoke(T x, T y);

    static abstract void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> destination);

    static abstract void Row(ReadOnlySpan<T> x, T y, Span<T> destination);

    static abstract void Row(T x, ReadOnlySpan<T> y, Span<T> destination);
}

/// <summary>An elementwise unary operation over a contiguous row.</summary>
internal interface IUnaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    static abstract void Row(ReadOnlySpan<T> x, Span<T> destination);
}

internal readonly struct AddOp<T> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => x + y;

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Add(x, y, d);

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Add(x, y, d);

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Add(y, x, d);
}

internal readonly struct SubtractOp<T> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => x - y;

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Subtract(x, y, d);

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Subtract(x, y, d);

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Subtract(x, y, d);
}

internal readonly struct MultiplyOp<T> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => x * y;

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Multiply(x, y, d);

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Multiply(x, y, d);

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Multiply(y, x, d);
}

internal readonly struct DivideOp<T> : IBinaryOp<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => x / y;

    public static void Row(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TP.Divide(x, y, d);

    public static void Row(ReadOnlySpan<T> x, T y, Span<T> d) => TP.Divide(x, y, d);

    public static void Row(T x, ReadOnlySpan<T> y, Span<T> d) => TP.Divide(x, y, d);
}

/// <summary>
/// Drivers for elementwise ops: broadcast the operands to the result shape (stride 0 where a size is
/// 1), then walk rows with <see cref="RowCursor"/> and hand each row to the op's SIMD form.
/// </summary>
internal static class Elementwise
{
    public static Tensor<T> Binary<T, TOp>(Tensor<T> a, Tensor<T> b, string opName)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        if (a.IsContiguous && b.IsContiguous && TryContiguous<T, TOp>(a, b, out var fast))
        {
            return fast;
        }

        var shape = ShapeMath.Broadcast(a._shape, b._shape, opName);
        var n = ShapeMath.Numel(shape, opName);
        var result = new Tensor<T>(n == 0 ? [] : GC.AllocateUninitializedArray<T>(n), shape);
        BinaryInto<T, TOp>(result, a, b, opName);
        return result;
    }

    /// <summary>
    /// destination = op(a, b) elementwise, a and b broadcast to the destination's shape; the destination
    /// may be any non-overlapping view, and may be a itself (in-place ops: every element is read before
    /// it is written, row by row).
    /// </summary>
    public static void BinaryInto<T, TOp>(Tensor<T> destination, Tensor<T> a, Tensor<T> b, string opName)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        var shape = destination._shape;
        var sa = a.BroadcastStridesTo(shape, opName);
        var sb = b.BroadcastStridesTo(shape, opName);
        var x = a._storage._data;
        var y = b._storage._data;
        var d = destination._storage._data;
        var c = new RowCursor(shape, destination._strides, destination._offset, sa, a._offset, sb, b._offset);
        var len = c.Length;
        while (c.MoveNext())
        {
            if (c.Inner0 != 1)
            {
                int i0 = c.Offset0, i1 = c.Offset1, i2 = c.Offset2;
                for (var i = 0; i < len; i++, i0 += c.Inner0, i1 += c.Inner1, i2 += c.Inner2)
                {
                    d[i0] = TOp.Invoke(x[i1], y[i2]);
                }

                continue;
            }

            var dst = d.AsSpan(c.Offset0, len);
            if (c.Inner1 == 1 && c.Inner2 == 1)
            {
                TOp.Row(x.AsSpan(c.Offset1, len), y.AsSpan(c.Offset2, len), dst);
            }
            else if (c.Inner1 == 1 && c.Inner2 == 0)
            {
                TOp.Row(x.AsSpan(c.Offset1, len), y[c.Offset2], dst);
            }
            else if (c.Inner1 == 0 && c.Inner2 == 1)
            {
                TOp.Row(x[c.Offset1], y.AsSpan(c.Offset2, len), dst);
            }
            else
            {
                int i1 = c.Offset1, i2 = c.Offset2;
                for (var i = 0; i < len; i++, i1 += c.Inner1, i2 += c.Inner2)
                {
                    dst[i] = TOp.Invoke(x[i1], y[i2]);
                }
            }
        }
    }

    /// <summary>
    /// The common cases without the broadcasting machinery: equal shapes, or one operand a single
    /// element of no higher rank than the other (a scalar). One SIMD call, no stride arrays.
    /// </summary>
    private static bool TryContiguous<T, TOp>(Tensor<T> a, Tensor<T> b, out Tensor<T> result)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        var na = a.Numel;
        var nb = b.Numel;
        int[] shape;
        if (ShapeMath.SameShape(a._shape, b._shape))
        {
            shape = a._shape;
        }
        else if (nb == 1 && b.Rank <= a.Rank)
        {
            shape = a._shape;
        }
        else if (na == 1 && a.Rank <= b.Rank)
        {
            shape = b._shape;
        }
        else
        {
            result = null!;
            return false;
        }

        // The result has the numel of the operand whose shape it takes (an empty tensor times a scalar is empty).
        var n = ReferenceEquals(shape, a._shape) ? na : nb;
        var d = n == 0 ? [] : GC.AllocateUninitializedArray<T>(n);
        var x = a._storage._data.AsSpan(a._offset, na);
        var y = b._storage._data.AsSpan(b._offset, nb);
        if (n > 0 && na == nb)
        {
            TOp.Row(x, y, d);
        }
        else if (n > 0 && nb == 1)
        {
            TOp.Row(x, y[0], d);
        }
        else if (n > 0)
        {
            TOp.Row(x[0], y, d);
        }

        result = new Tensor<T>(d, (int[])shape.Clone());
        return true;
    }

    public static Tensor<T> Unary<T, TOp>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IUnaryOp<T>
    {
        var n = x.Numel;
        var result = new Tensor<T>(n == 0 ? [] : GC.AllocateUninitializedArray<T>(n), (int[])x._shape.Clone());
        TOp.Row(x.ContiguousSpan(), result._storage._data);
        return result;
    }
}
