using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd.Kernels;

/// <summary>
/// Copy, fill and accumulate between strided views of flat buffers. Every view, gather and
/// scatter in the engine ends up here; the row loop is <see cref="RowCursor"/>, a row is one
/// TensorPrimitives call when its strides allow.
/// </summary>
internal static class Strided
{
    /// <summary>dst[view] = src[view], both described by (offset, strides) over the same shape.</summary>
    public static void Copy<T>(
        Span<T> dst, int dstOffset, ReadOnlySpan<int> dstStrides,
        ReadOnlySpan<T> src, int srcOffset, ReadOnlySpan<int> srcStrides,
        ReadOnlySpan<int> shape)
        where T : unmanaged
    {
        var c = new RowCursor(shape, dstStrides, dstOffset, srcStrides, srcOffset);
        var n = c.Length;
        while (c.MoveNext())
        {
            if (c.Inner0 == 1 && c.Inner1 == 1)
            {
                src.Slice(c.Offset1, n).CopyTo(dst.Slice(c.Offset0, n));
            }
            else if (c.Inner0 == 1 && c.Inner1 == 0)
            {
                dst.Slice(c.Offset0, n).Fill(src[c.Offset1]);
            }
            else
            {
                int d = c.Offset0, s = c.Offset1;
                for (var i = 0; i < n; i++, d += c.Inner0, s += c.Inner1)
                {
                    dst[d] = src[s];
                }
            }
        }
    }

    /// <summary>Copies a strided view into a new row-major array.</summary>
    public static T[] ToContiguous<T>(ReadOnlySpan<T> src, int offset, ReadOnlySpan<int> strides, ReadOnlySpan<int> shape)
        where T : unmanaged
    {
        var n = ShapeMath.Numel(shape);
        var dst = n == 0 ? [] : GC.AllocateUninitializedArray<T>(n);
        Copy(dst, 0, ShapeMath.ContiguousStrides(shape), src, offset, strides, shape);
        return dst;
    }

    /// <summary>
    /// dst[view] += src[view]. The destination view may overlap itself (stride 0): that is how
    /// a sum over broadcast dimensions is taken, and why scatter-adds through overlapping
    /// windows accumulate instead of overwrite.
    /// </summary>
    public static void Accumulate<T>(
        Span<T> dst, int dstOffset, ReadOnlySpan<int> dstStrides,
        ReadOnlySpan<T> src, int srcOffset, ReadOnlySpan<int> srcStrides,
        ReadOnlySpan<int> shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = new RowCursor(shape, dstStrides, dstOffset, srcStrides, srcOffset);
        var n = c.Length;
        while (c.MoveNext())
        {
            if (c.Inner0 == 1 && c.Inner1 == 1)
            {
                var d = dst.Slice(c.Offset0, n);
                TP.Add(d, src.Slice(c.Offset1, n), d);
            }
            else if (c.Inner0 == 0 && c.Inner1 == 1)
            {
                dst[c.Offset0] += TP.Sum<T>(src.Slice(c.Offset1, n));
            }
            else if (c.Inner0 == 1 && c.Inner1 == 0)
            {
                var d = dst.Slice(c.Offset0, n);
                TP.Add(d, src[c.Offset1], d);
            }
            else
            {
                int d = c.Offset0, s = c.Offset1;
                for (var i = 0; i < n; i++, d += c.Inner0, s += c.Inner1)
                {
                    dst[d] += src[s];
                }
            }
        }
    }

    /// <summary>dst[view] = value.</summary>
    public static void Fill<T>(Span<T> dst, int dstOffset, ReadOnlySpan<int> dstStrides, ReadOnlySpan<int> shape, T value)
        where T : unmanaged
    {
        var c = new RowCursor(shape, dstStrides, dstOffset);
        var n = c.Length;
        while (c.MoveNext())
        {
            if (c.Inner0 == 1)
            {
                dst.Slice(c.Offset0, n).Fill(value);
            }
            else
            {
                for (int i = 0, d = c.Offset0; i < n; i++, d += c.Inner0)
                {
                    dst[d] = value;
                }
            }
        }
    }

    /// <summary>
    /// True when no two indices of the view address the same element (no stride-0 or
    /// interleaved dimensions). Sort the dimensions by stride; each stride must exceed the
    /// reach of all smaller ones.
    /// </summary>
    public static bool IsNonOverlapping(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides)
    {
        var dims = new List<(int Stride, int Size)>(shape.Length);
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0)
            {
                return true;
            }

            if (shape[i] > 1)
            {
                dims.Add((strides[i], shape[i]));
            }
        }

        dims.Sort((x, y) => x.Stride.CompareTo(y.Stride));
        long reach = 0;
        foreach (var (stride, size) in dims)
        {
            if (stride <= reach)
            {
                return false;
            }

            reach += (long)stride * (size - 1);
        }

        return true;
    }

    /// <summary>Smallest and largest flat index a view touches (an empty view gives (offset, offset - 1)).</summary>
    public static (long Min, long Max) Extent(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides, int offset)
    {
        long lo = offset, hi = offset;
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0)
            {
                return (offset, offset - 1);
            }

            var reach = (long)strides[i] * (shape[i] - 1);
            if (reach < 0)
            {
                lo += reach;
            }
            else
            {
                hi += reach;
            }
        }

        return (lo, hi);
    }
}
