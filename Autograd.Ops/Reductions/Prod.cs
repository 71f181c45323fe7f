using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public static class ProdExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Π of all elements (a rank-0 tensor).</summary>
        public Tensor<T> Prod([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Prod(null, false, callerFile, callerLine);

        /// <summary>Π over one dimension.</summary>
        public Tensor<T> Prod(int dim, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => x.Prod([dim], keepDim, callerFile, callerLine);

        /// <summary>
        /// Π over <paramref name="dims"/> (null or empty: all). VJP: dx_i = g·Π_{j≠i} x_j over i's
        /// reduction. Without zeros that is g·y/x, written with ops (differentiable again); with zeros
        /// (where y/x is 0/0) the products of all other elements come from prefix and suffix products
        /// per reduction (PyTorch's prod_backward for inputs with zeros), or, when the backward pass is
        /// recorded (createGraph), from recorded ops, so that it is differentiable again.
        /// </summary>
        public Tensor<T> Prod(int[]? dims, bool keepDim = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(x);
            var (reduced, keep, outShape) = Reduce.Plan(x.ShapeArray, dims, keepDim, "Prod");
            var (data, outer, inner, _, _) = Reduce.Rows(x, reduced);
            var result = Tensor<T>.Uninitialized(outShape);
            using (var rw = result.Write())
            {
                var values = rw.Elements;
                for (var o = 0; o < outer; o++)
                {
                    values[o] = inner == 0 ? T.One : TP.Product<T>(data.AsSpan(o * inner, inner));
                }
            }

            if (Tape.ShouldRecord(x))
            {
                Tape.Record("Prod", new CallSite(callerFile, callerLine), result, [x], (g, grads) =>
                {
                    var gk = g.Reshape(keep);
                    grads[0] = !HasZero(x)
                        ? gk * result.Reshape(keep) / x
                        : gk * (Tape.ShouldRecord(x) ? RecordedProductOfOthers(x, reduced) : ProductOfOthers(x, reduced));
                }, x, result);
            }

            return result;
        }
    }

    /// <summary>
    /// <see cref="ProductOfOthers"/> written with recorded ops, for a recorded backward pass over an input
    /// with zeros: each reduction of n elements is spread to an n × n matrix whose row i holds the
    /// reduction with x_i replaced by 1 (Expand, then MaskedFill with the identity), and each row's Prod is
    /// Π_{j≠i} x_j. Its own VJP is Prod's again, so every order is differentiable. O(n²) memory per
    /// reduction, paid only when a gradient through zeros is differentiated.
    /// </summary>
    private static Tensor<T> RecordedProductOfOthers<T>(Tensor<T> x, bool[] reduced)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rank = x.Rank;
        var perm = Enumerable.Range(0, rank).Where(d => !reduced[d]).Concat(Enumerable.Range(0, rank).Where(d => reduced[d])).ToArray();
        var permShape = perm.Select(d => x.ShapeArray[d]).ToArray();
        int[] kept = [.. Enumerable.Range(0, rank).Where(d => !reduced[d]).Select(d => x.ShapeArray[d])];
        var n = permShape.Skip(kept.Length).Aggregate(1, (a, b) => a * b);
        var rows = x.Permute(perm).Reshape([.. kept, n]);
        var spread = rows.Unsqueeze(kept.Length).Expand([.. kept, n, n]);
        var eye = Tensor<T>.ZeroFilled([n, n]);
        using (var ew = eye.Write())
        {
            var e = ew.Span;
            for (var i = 0; i < n; i++)
            {
                e[(i * n) + i] = T.One;
            }
        }

        return spread.MaskedFill(eye, 1.0).Prod(kept.Length + 1).Reshape(permShape).Permute(Inverse(perm));
    }

    /// <summary>For each element, the product of the other elements of its reduction (a constant tensor of x's shape).</summary>
    private static Tensor<T> ProductOfOthers<T>(Tensor<T> x, bool[] reduced)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (data, outer, inner, perm, permShape) = Reduce.Rows(x, reduced);
        var result = Tensor<T>.Uninitialized(permShape);
        using var rw = result.Write();
        var others = rw.Elements;
        for (var o = 0; o < outer; o++)
        {
            var row = data.AsSpan(o * inner, inner);
            var dst = others.Slice(o * inner, inner);

            // dst[i] = (x_0 ⋯ x_{i−1}) · (x_{i+1} ⋯ x_{n−1}): a forward pass of prefixes, a backward pass of suffixes.
            var prefix = T.One;
            for (var i = 0; i < inner; i++)
            {
                dst[i] = prefix;
                prefix *= row[i];
            }

            var suffix = T.One;
            for (var i = inner - 1; i >= 0; i--)
            {
                dst[i] *= suffix;
                suffix *= row[i];
            }
        }

        // Back from the (kept dims, reduced dims) order to x's dimension order.
        return result.Permute(Inverse(perm)).Contiguous();
    }

    /// <summary>Whether any element of <paramref name="x"/> is zero (then y/x is 0/0 somewhere).</summary>
    private static bool HasZero<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var xr = x.Read();
        return xr.ContiguousElements.IndexOf(T.Zero) >= 0;
    }

    /// <summary>The permutation that undoes <paramref name="perm"/> (back from the kept-then-reduced order to x's).</summary>
    private static int[] Inverse(int[] perm)
    {
        var inverse = new int[perm.Length];
        for (var i = 0; i < perm.Length; i++)
        {
            inverse[perm[i]] = i;
        }

        return inverse;
    }
}
