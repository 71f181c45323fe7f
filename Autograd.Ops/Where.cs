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
            var shape = ShapeMath.Broadcast(ShapeMath.Broadcast(condition._shape, x._shape, "Where"), other._shape, "Where");
            ShapeMath.Numel(shape, "Where");
            var c = Broadcast(condition, shape);
            var a = Broadcast(x, shape);
            var b = Broadcast(other, shape);
            for (var i = 0; i < c.Length; i++)
            {
                c[i] = c[i] != T.Zero ? a[i] : b[i];
            }

            var result = new Tensor<T>(c, shape);
            if (Tape.ShouldRecord(x, other))
            {
                var zero = Tensor.Scalar(T.Zero);
                var (needX, needOther) = (x.RequiresGrad, other.RequiresGrad);
                Tape.Record("Where", new CallSite(callerFile, callerLine), result, [x, other], (g, grads) =>
                {
                    // Written with Where itself, so the VJP is differentiable (and 0·∞ never makes NaN).
                    if (needX)
                    {
                        grads[0] = g.Where(condition, zero).SumToSize(x._shape);
                    }

                    if (needOther)
                    {
                        grads[1] = zero.Where(condition, g).SumToSize(other._shape);
                    }
                }, condition);
            }

            return result;
        }
    }

    /// <summary>A row-major copy of <paramref name="t"/> broadcast to <paramref name="shape"/>.</summary>
    private static T[] Broadcast<T>(Tensor<T> t, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Strided.ToContiguous(t._storage.Span, t._offset, t.BroadcastStridesTo(shape, "Where"), shape);
}

/// <summary>The static form of Where on the <see cref="Tensor"/> factory class (its own class: the lowered signature equals the instance form).</summary>
public static class TensorWhereExtensions
{
    extension(Tensor)
    {
        /// <summary>PyTorch's <c>torch.where(condition, x, y)</c>: <c>x.Where(condition, y)</c>.</summary>
        public static Tensor<T> Where<T>(Tensor<T> condition, Tensor<T> x, Tensor<T> y, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(x);
            return x.Where(condition, y);
        }
    }
}
