using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// Up- and down-sampling of the spatial dimensions (PyTorch's F.interpolate) by <c>"nearest"</c> (3-D [N, C, L]
/// and 4-D [N, C, H, W] input), <c>"linear"</c> (3-D) and <c>"bilinear"</c> (4-D).
/// </summary>
/// <remarks>
/// Every mode is separable: y = A_H·x·A_Wᵀ per plane, where row o of A_d holds the weights output position o
/// takes from the input positions along d. Nearest has one 1 per row; linear has λ₀ at i₀ and λ₁ = 1 − λ₀ at
/// i₁ = min(i₀ + 1, in − 1). So the op is one recorded step per resampled dimension, last dimension first (the
/// order of PyTorch's sums): y = A_d·x along d (<see cref="ResampleKernel{T}"/>, O(output)), whose VJP is
/// dx = A_dᵀ·g, the recorded op "InterpolateBackward", whose own VJP is A_d again (a linear map and its
/// transpose), so the gradient is differentiable to any order.
///
/// Source positions, as PyTorch's CPU kernels (aten/src/ATen/native/UpSample.h): with scale = in/out, or
/// 1/scaleFactor when a scale factor was given (PyTorch's recompute_scale_factor=None):
/// nearest i = min(⌊o·scale⌋, in − 1) computed in float (o itself when out = in, o/2 when out = 2·in);
/// linear with alignCorners src = o·(in − 1)/(out − 1) (0 when out = 1), without src = max(scale·(o + ½) − ½, 0);
/// i₀ = min(⌊src⌋, in − 1), λ₁ = src − i₀. Output sizes from a scale factor are ⌊in·scaleFactor⌋.
/// </remarks>
public static class InterpolateExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Resamples the spatial dimensions of input [N, C, L] or [N, C, H, W] to <paramref name="size"/>, or by
        /// <paramref name="scaleFactor"/> (give exactly one; one value applies to every spatial dimension), with
        /// <paramref name="mode"/> <c>"nearest"</c> (default), <c>"linear"</c> (3-D) or <c>"bilinear"</c> (4-D).
        /// <paramref name="alignCorners"/> (linear modes only; default false) maps the corner pixels' centres onto
        /// each other instead of their outer edges.
        /// </summary>
        public Tensor<T> Interpolate(
            int[]? size = null, double[]? scaleFactor = null, string mode = "nearest", bool? alignCorners = null,
            [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(mode);
            if (input.Rank >= 1 && ShapeMath.Numel(input.ShapeArray[1..]) == 0)
            {
                // PyTorch's upsample kernels: "Non-empty 3D/4D data tensor expected"; only the batch may be empty.
                throw new ArgumentException($"Interpolate: only the batch dimension may be empty, got input {ShapeMath.Format(input.ShapeArray)}.", nameof(input));
            }

            var plan = Plan(input.ShapeArray, size, scaleFactor, mode, alignCorners);
            var site = new CallSite(callerFile, callerLine);
            var result = input;
            for (var k = plan.Length - 1; k >= 0; k--)
            {
                var (dim, i0, l0, i1, l1) = plan[k];
                if (l0 is null && i0.Length == result.ShapeArray[dim] && !i0.Where((v, o) => v != o).Any())
                {
                    continue;   // nearest at the same size: the identity
                }

                var kernel = new ResampleKernel<T>(result.ShapeArray[dim], i0, l0?.Select(T.CreateTruncating).ToArray(), i1, l1?.Select(T.CreateTruncating).ToArray());
                result = Resample(result, kernel, dim, site);
            }

            // Always a new tensor (PyTorch's interpolate never returns its input), even when every step was skipped.
            return ReferenceEquals(result, input) ? input.Clone() : result;
        }

        /// <summary>Interpolate with one scale factor for every spatial dimension: <c>x.Interpolate(2.0, "bilinear")</c>.</summary>
        public Tensor<T> Interpolate(
            double scaleFactor, string mode = "nearest", bool? alignCorners = null,
            [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            => input.Interpolate(null, [scaleFactor], mode, alignCorners, callerFile, callerLine);
    }

    /// <summary>y = A·x along <paramref name="dim"/>, recorded as "Interpolate" with VJP dx = Aᵀ·g (<see cref="ResampleBackward{T}"/>).</summary>
    private static Tensor<T> Resample<T>(Tensor<T> x, ResampleKernel<T> kernel, int dim, CallSite site)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xc = x.Contiguous();
        var (outer, inner) = Split(xc.ShapeArray, dim);
        var shape = (int[])xc.ShapeArray.Clone();
        shape[dim] = kernel.OutSize;
        var y = Tensor<T>.Uninitialized(shape);   // every element is written
        using (var xr = xc.Read())
        using (var yw = y.Write())
        {
            kernel.Forward(xr.Elements, yw.Elements, outer, inner);
        }

        if (Tape.ShouldRecord(xc))
        {
            var inShape = xc.ShapeArray;
            Tape.Record("Interpolate", site, y, [xc], (g, grads) => grads[0] = ResampleBackward(g, kernel, dim, inShape, site));
        }

        return y;
    }

    /// <summary>dx = Aᵀ·g along <paramref name="dim"/>, recorded (when g requires grad) as "InterpolateBackward" with VJP ḡ ↦ A·ḡ.</summary>
    private static Tensor<T> ResampleBackward<T>(Tensor<T> g, ResampleKernel<T> kernel, int dim, int[] inShape, CallSite site)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var gc = g.Contiguous();
        var (outer, inner) = Split(inShape, dim);
        var dx = Tensor<T>.ZeroFilled((int[])inShape.Clone());
        using (var gr = gc.Read())
        using (var dw = dx.Write())
        {
            kernel.Backward(gr.Elements, dw.Elements, outer, inner);
        }

        if (Tape.ShouldRecord(gc))
        {
            Tape.Record("InterpolateBackward", site, dx, [gc], (gg, grads) => grads[0] = Resample(gg, kernel, dim, site));
        }

        return dx;
    }

    /// <summary>The elements before and after <paramref name="dim"/>: the [outer, size, inner] view of a contiguous tensor.</summary>
    private static (int Outer, int Inner) Split(int[] shape, int dim) =>
        (shape[..dim].Aggregate(1, (p, d) => p * d), shape[(dim + 1)..].Aggregate(1, (p, d) => p * d));

    /// <summary>
    /// Checks the arguments and returns, per spatial dimension, the source indices and (linear modes) their
    /// weights. λ is computed in double and rounded to T (PyTorch computes float's in float, so a float λ may
    /// differ from PyTorch's in the last bit).
    /// </summary>
    private static (int Dim, int[] I0, double[]? L0, int[]? I1, double[]? L1)[] Plan(
        int[] shape, int[]? size, double[]? scaleFactor, string mode, bool? alignCorners)
    {
        var shapes = $"(input {ShapeMath.Format(shape)}, mode \"{mode}\""
            + (size is null ? "" : $", size {ShapeMath.Format(size)}")
            + (scaleFactor is null ? "" : $", scaleFactor [{string.Join(", ", scaleFactor.Select(s => s.ToString(CultureInfo.InvariantCulture)))}]") + ")";
        var (linear, rank) = mode switch
        {
            "nearest" => (false, 0),
            "linear" => (true, 3),
            "bilinear" => (true, 4),
            _ => throw new ArgumentException($"Interpolate: mode must be \"nearest\", \"linear\" or \"bilinear\", got \"{mode}\" {shapes}.", nameof(mode)),
        };
        if (rank == 0 ? shape.Length is not (3 or 4) : shape.Length != rank)
        {
            var wanted = rank switch { 3 => "3-D [N, C, L]", 4 => "4-D [N, C, H, W]", _ => "3-D [N, C, L] or 4-D [N, C, H, W]" };
            throw new ArgumentException($"Interpolate: mode \"{mode}\" needs {wanted} input, got rank {shape.Length} {shapes}.", "input");
        }

        if (!linear && alignCorners is not null)
        {
            throw new ArgumentException($"Interpolate: alignCorners can only be set with the linear modes (\"linear\", \"bilinear\") {shapes}.", nameof(alignCorners));
        }

        var spatial = shape.Length - 2;
        if ((size is null) == (scaleFactor is null))
        {
            throw new ArgumentException($"Interpolate: give exactly one of size and scaleFactor {shapes}.", size is null ? nameof(size) : nameof(scaleFactor));
        }

        if (size is not null && (size.Length is not 1 && size.Length != spatial || size.Any(s => s < 1)))
        {
            throw new ArgumentException($"Interpolate: size must hold 1 or {spatial} positive sizes (one per spatial dimension) {shapes}.", nameof(size));
        }

        if (scaleFactor is not null && (scaleFactor.Length is not 1 && scaleFactor.Length != spatial || scaleFactor.Any(s => !(s > 0 && double.IsFinite(s)))))
        {
            throw new ArgumentException($"Interpolate: scaleFactor must hold 1 or {spatial} finite positive factors (one per spatial dimension) {shapes}.", nameof(scaleFactor));
        }

        if (shape[2..].Any(s => s < 1))
        {
            throw new ArgumentException($"Interpolate: the input's spatial sizes must be positive {shapes}.", "input");
        }

        var align = alignCorners ?? false;
        var plan = new (int, int[], double[]?, int[]?, double[]?)[spatial];
        for (var k = 0; k < spatial; k++)
        {
            var inSize = shape[2 + k];
            double? scale = scaleFactor is null ? null : scaleFactor[scaleFactor.Length == 1 ? 0 : k];
            var outLong = size is not null ? size[size.Length == 1 ? 0 : k] : (long)Math.Floor(inSize * scale!.Value);
            if (outLong < 1 || outLong > int.MaxValue)
            {
                throw new ArgumentException($"Interpolate: output size {outLong} of spatial dimension {k} is out of range (it must be at least 1) {shapes}.", nameof(scaleFactor));
            }

            var outSize = (int)outLong;
            plan[k] = linear ? Linear(2 + k, inSize, outSize, scale, align) : (2 + k, Nearest(inSize, outSize, scale), null, null, null);
        }

        return plan;
    }

    /// <summary>PyTorch's nearest_idx: the identity and o/2 exactly, else min(⌊o·scale⌋, in − 1) in float.</summary>
    private static int[] Nearest(int inSize, int outSize, double? scaleFactor)
    {
        var idx = new int[outSize];
        var scale = scaleFactor is > 0 ? (float)(1.0 / scaleFactor.Value) : (float)inSize / outSize;
        for (var o = 0; o < outSize; o++)
        {
            idx[o] = outSize == inSize ? o
                : outSize == 2 * inSize ? o >> 1
                : (int)Math.Min((long)MathF.Floor(o * scale), inSize - 1);
        }

        return idx;
    }

    /// <summary>PyTorch's area_pixel_compute_source_index and its linear weights (guard_index_and_lambda).</summary>
    private static (int, int[], double[], int[], double[]) Linear(int dim, int inSize, int outSize, double? scaleFactor, bool alignCorners)
    {
        var (i0, i1, l0, l1) = (new int[outSize], new int[outSize], new double[outSize], new double[outSize]);
        // PyTorch's area_pixel_compute_scale: with alignCorners a single output position reads position 0.
        var scale = alignCorners ? (outSize > 1 ? (double)(inSize - 1) / (outSize - 1) : 0.0)
            : scaleFactor is > 0 ? 1.0 / scaleFactor.Value : (double)inSize / outSize;
        for (var o = 0; o < outSize; o++)
        {
            var src = alignCorners ? scale * o : Math.Max(scale * (o + 0.5) - 0.5, 0);
            var lo = Math.Min((int)Math.Floor(src), inSize - 1);
            var lambda = Math.Clamp(src - lo, 0, 1);
            (i0[o], i1[o], l1[o], l0[o]) = (lo, lo < inSize - 1 ? lo + 1 : lo, lambda, 1 - lambda);
        }

        return (dim, i0, l0, i1, l1);
    }
}
