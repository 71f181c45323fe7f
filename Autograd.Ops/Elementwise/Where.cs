using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class WhereExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Elements of this tensor where <paramref name="condition"/> is non-zero, else of
        /// <paramref name="other"/>, all three broadcast together (PyTorch's <c>x.where(condition, other)</c>).
        /// The condition is a mask (see <c>Gt</c> and the other comparisons): data, never differentiated.
        /// VJP: dx = Σ_broadcast where(condition, g, 0); dother = Σ_broadcast where(condition, 0, g).
        /// </summary>
        public Tensor<T> Where(Tensor<T> condition, Tensor<T> other, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(condition);
            ArgumentNullException.ThrowIfNull(other);
            var shape = ShapeMath.Broadcast(ShapeMath.Broadcast(condition.ShapeArray, x.ShapeArray, "Where"), other.ShapeArray, "Where");
            ShapeMath.Numel(shape, "Where");
            var result = Select(condition, x, other, shape);
            if (Tape.ShouldRecord(x, other))
            {
                var zero = Tensor.Scalar(T.Zero);
                var (needX, needOther) = (x.RequiresGrad, other.RequiresGrad);
                Tape.Record("Where", new CallSite(callerFile, callerLine), result, [x, other], (g, grads) =>
                {
                    // Written with Where itself, so the VJP is differentiable (and 0·∞ never makes NaN).
                    if (needX)
                    {
                        grads[0] = g.Where(condition, zero).SumToSize(x.ShapeArray);
                    }

                    if (needOther)
                    {
                        grads[1] = zero.Where(condition, g).SumToSize(other.ShapeArray);
                    }
                }, condition);
            }

            return result;
        }
    }

    /// <summary>
    /// A fresh row-major [shape] tensor of where(c, a, b), each operand broadcast to <paramref name="shape"/>:
    /// b copied in, then a's elements written where c is non-zero (a walk over three strided operands).
    /// </summary>
    private static Tensor<T> Select<T>(Tensor<T> c, Tensor<T> a, Tensor<T> b, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = Tensor<T>.Uninitialized(shape);
        using var rw = result.Write();
        using var br = b.Read();
        using var cr = c.Read();
        using var ar = a.Read();
        var dst = rw.Span;
        Strided.Copy(dst, 0, result.StridesArray, br.Span, br.Offset, b.BroadcastStridesTo(shape, "Where"), shape);
        var cs = cr.Span;
        var xs = ar.Span;
        var cursor = new RowCursor(shape, result.StridesArray, 0, c.BroadcastStridesTo(shape, "Where"), c.Offset, a.BroadcastStridesTo(shape, "Where"), a.Offset);
        while (cursor.MoveNext())
        {
            int d = cursor.Offset0, ci = cursor.Offset1, ai = cursor.Offset2;
            for (var i = 0; i < cursor.Length; i++, d += cursor.Inner0, ci += cursor.Inner1, ai += cursor.Inner2)
            {
                if (cs[ci] != T.Zero)
                {
                    dst[d] = xs[ai];
                }
            }
        }

        return result;
    }
}

/// <summary>
/// The static form of Where on the <see cref="Tensor"/> factory class. Its own class, <c>&lt;Op&gt;StaticExtensions</c>:
/// its lowered signature equals the instance form's, which one class cannot hold twice.
/// </summary>
public static class WhereStaticExtensions
{
    extension(Tensor)
    {
        /// <summary>PyTorch's <c>torch.where(condition, x, y)</c>: <c>x.Where(condition, y)</c>.</summary>
        public static Tensor<T> Where<T>(Tensor<T> condition, Tensor<T> x, Tensor<T> y, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(x);
            return x.Where(condition, y, callerFile, callerLine);
        }
    }
}
