using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class NormExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// The vector p-norm over <paramref name="dims"/> (null or empty: all elements), as PyTorch's
        /// <c>torch.norm(x, p, dim, keepdim)</c> / <c>linalg.vector_norm</c>, for p = 2 (√Σx²), 1 (Σ|x|) and
        /// ∞ (max |x|; <see cref="double.PositiveInfinity"/>). VJP (PyTorch's norm_backward), with g and y
        /// broadcast back over the reduced dims: p = 2: dx = g·x / y, 0 where y = 0 (the zero subgradient);
        /// p = 1: dx = g·sign(x); p = ∞: dx = g·sign(x)·[|x| = y] / #{|x| = y}, ties sharing equally. Written with
        /// recorded ops (y is the saved output), so differentiable again.
        /// </summary>
        public Tensor<T> Norm(double p = 2, int[]? dims = null, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            if (p is not (1 or 2 or double.PositiveInfinity))
            {
                throw new ArgumentException($"Norm: p must be 2, 1, ∞ or \"fro\", got {p} (input {ShapeMath.Format(x.ShapeArray)}).", nameof(p));
            }

            return VectorNorm(x, p, dims, keepDim, new CallSite(callerFile, callerLine));
        }

        /// <summary>
        /// The norm named by <paramref name="p"/>: "fro", the Frobenius norm √Σx² over <paramref name="dims"/>
        /// (null: all elements; at most two dims, as PyTorch), which is the p = 2 vector norm of those elements.
        /// The nuclear norm ("nuc") needs singular values, which the engine does not have.
        /// </summary>
        public Tensor<T> Norm(string p, int[]? dims = null, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(p);
            var shape = ShapeMath.Format(x.ShapeArray);
            if (p == "nuc")
            {
                throw new NotSupportedException($"Norm: p \"nuc\" (the nuclear norm) is not supported: it needs singular values (input {shape}).");
            }

            if (p != "fro")
            {
                throw new ArgumentException($"Norm: p must be \"fro\" as a string (or 2, 1, ∞ as a number), got \"{p}\" (input {shape}).", nameof(p));
            }

            if (dims is { Length: > 2 })
            {
                throw new ArgumentException($"Norm: the Frobenius norm takes at most two dims, got {ShapeMath.Format(dims)} (input {shape}).", nameof(dims));
            }

            return VectorNorm(x, 2, dims, keepDim, new CallSite(callerFile, callerLine));
        }
    }

    private static Tensor<T> VectorNorm<T>(Tensor<T> x, double p, int[]? dims, bool keepDim, CallSite callSite)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (reduced, keep, _) = Reduce.Plan(x.ShapeArray, dims, keepDim, "Norm");
        var all = dims is null || dims.Length == 0 ? null : dims;
        if (p == double.PositiveInfinity && reduced.Select((r, d) => r && x.ShapeArray[d] == 0).Any(e => e))
        {
            throw new ArgumentException(
                $"Norm: the ∞-norm of an empty set of elements is undefined (input {ShapeMath.Format(x.ShapeArray)}, dims {(all is null ? "all" : ShapeMath.Format(all))}).",
                nameof(dims));
        }

        Tensor<T> result;
        using (Tensor.NoGrad())
        {
            var d = x.Detach();
            result = p switch
            {
                1 => d.Abs().Sum(all, keepDim),
                2 => d.Square().Sum(all, keepDim).Sqrt(),
                _ => d.Abs().Max(all, keepDim),
            };
        }

        if (Tape.ShouldRecord(x))
        {
            Tape.Record("Norm", callSite, result, [x], (g, grads) =>
            {
                var gk = g.Reshape(keep);
                var yk = result.Reshape(keep);
                grads[0] = p switch
                {
                    // y = 0 only where every element of its set is 0, so x / 1 is the zero subgradient there.
                    2 => gk * x / ScalarOperatorExtensions.Scalar<T>(1).Where(yk.Eq(0), yk),
                    1 => gk * x.Sign(),
                    _ => gk * x.Sign() * Ties(x, yk, all),
                };
            }, x, result);
        }

        return result;
    }

    /// <summary>[|x| = y] / #{|x| = y} over each reduced set: the maxima share the gradient (a constant).</summary>
    private static Tensor<T> Ties<T>(Tensor<T> x, Tensor<T> yk, int[]? dims)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using (Tensor.NoGrad())
        {
            var mask = x.Detach().Abs().Eq(yk.Detach());
            return mask / mask.Sum(dims, keepDim: true);
        }
    }
}
