using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class LayerNormExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Layer normalisation (PyTorch's layer_norm): over the last dims given by
        /// <paramref name="normalizedShape"/>, y = (x − μ)/√(var + eps)·weight + bias with the biased
        /// variance; <paramref name="weight"/> and <paramref name="bias"/> (optional) have shape normalizedShape.
        /// </summary>
        /// <remarks>
        /// VJP, with x̂ = (x − μ)·σ⁻¹ and gx̂ = g·weight: dx = σ⁻¹·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂)) (means over
        /// the normalised dims), dweight = Σ_leading g·x̂, dbias = Σ_leading g.
        /// </remarks>
        public Tensor<T> LayerNorm(int[] normalizedShape, Tensor<T>? weight = null, Tensor<T>? bias = null, double eps = 1e-5, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            ArgumentNullException.ThrowIfNull(input);
            ArgumentNullException.ThrowIfNull(normalizedShape);
            var shapes = $"(input {ShapeMath.Format(input.ShapeArray)}, normalizedShape {ShapeMath.Format(normalizedShape)})";
            var k = normalizedShape.Length;
            if (k == 0 || normalizedShape.Any(d => d < 1))
            {
                throw new ArgumentException($"LayerNorm: normalizedShape must be non-empty with positive sizes {shapes}.", nameof(normalizedShape));
            }

            if (input.Rank < k || !input.ShapeArray.AsSpan(input.Rank - k).SequenceEqual(normalizedShape))
            {
                throw new ArgumentException($"LayerNorm: the input's last {k} dimensions must equal normalizedShape {shapes}.", nameof(normalizedShape));
            }

            var normalized = (int[])normalizedShape.Clone();
            Normalization.CheckShape(weight, normalized, "LayerNorm", nameof(weight), shapes);
            Normalization.CheckShape(bias, normalized, "LayerNorm", nameof(bias), shapes);
            var epsT = Normalization.CheckEps<T>(eps, "LayerNorm", shapes);
            var dims = Enumerable.Range(input.Rank - k, k).ToArray();

            (Tensor<T> Mean, Tensor<T> InvStd) Stats()
            {
                var s = Normalization.Standardize(input, dims, epsT);
                return (s.Mean, s.InvStd);
            }

            // The forward in one fused pass (LayerNormKernel); μ and σ⁻¹ are kept with the normalised dims as size 1.
            var n = ShapeMath.Numel(normalized);
            var statShape = input.ShapeArray[..(input.Rank - k)].Concat(Enumerable.Repeat(1, k)).ToArray();
            var result = Tensor<T>.Uninitialized(input.ShapeArray);
            (Tensor<T> Mean, Tensor<T> InvStd) saved = (Tensor<T>.Uninitialized(statShape), Tensor<T>.Uninitialized(statShape));
            using (Tensor.NoGrad())
            {
                var (xc, wc, bc) = (input.Contiguous(), weight?.Contiguous(), bias?.Contiguous());
                using var xr = xc.Read();
                using var wr = wc is null ? default : wc.Read();
                using var br = bc is null ? default : bc.Read();
                using var yw = result.Write();
                using var mw = saved.Mean.Write();
                using var sw = saved.InvStd.Write();
                LayerNormKernel.Forward(
                    xr.Memory.Slice(xr.Offset, xc.Numel),
                    wc is null ? ReadOnlyMemory<T>.Empty : wr.Memory.Slice(wr.Offset, n),
                    bc is null ? ReadOnlyMemory<T>.Empty : br.Memory.Slice(br.Offset, n),
                    n,
                    epsT,
                    yw.Memory.Slice(yw.Offset, result.Numel),
                    mw.Memory.Slice(mw.Offset, saved.Mean.Numel),
                    sw.Memory.Slice(sw.Offset, saved.InvStd.Numel));
            }

            if (OpTrace.IsActive)
            {
                OpTrace.Add("LayerNorm", result, [input, weight, bias], ("axes", k), ("eps", eps));
            }

            if (Tape.ShouldRecord(input, weight, bias))
            {
                var (inputs, wAt, bAt) = OptionalInputs.Of([input], weight, bias);
                var (needX, needW, needB) = (input.RequiresGrad, weight?.RequiresGrad == true, bias?.RequiresGrad == true);
                Tape.Record("LayerNorm", new CallSite(callerFile, callerLine), result, inputs, (g, grads) =>
                {
                    if (!Tape.IsGradEnabled)
                    {
                        // A backward pass that records nothing: the fused kernel from the saved μ and σ⁻¹.
                        var (dx, dw, db) = FusedBackward(g, input, weight, saved, normalized, needX, needW, needB);
                        if (needX)
                        {
                            grads[0] = dx!;
                        }

                        if (needW)
                        {
                            grads[wAt] = dw!;
                        }

                        if (needB)
                        {
                            grads[bAt] = db!;
                        }

                        return;
                    }

                    var (xHat, invStd) = Normalization.ForBackward(input, saved, Stats);
                    if (needX)
                    {
                        grads[0] = Normalization.InputGradient(weight is null ? g : g.Mul(weight), xHat, invStd, dims);
                    }

                    if (needW)
                    {
                        grads[wAt] = g.Mul(xHat).SumToSize(normalized);
                    }

                    if (needB)
                    {
                        grads[bAt] = g.SumToSize(normalized);
                    }
                },
                input,
                weight);
            }

            return result;
        }
    }

    /// <summary>LayerNorm's VJP through <see cref="LayerNormKernel.Backward"/>: dx, dweight, dbias (null where not needed).</summary>
    private static (Tensor<T>? Dx, Tensor<T>? Dw, Tensor<T>? Db) FusedBackward<T>(
        Tensor<T> g, Tensor<T> input, Tensor<T>? weight, (Tensor<T> Mean, Tensor<T> InvStd) saved, int[] normalized, bool needX, bool needW, bool needB)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (gc, xc, wc) = (g.Contiguous(), input.Contiguous(), weight?.Contiguous());
        var n = ShapeMath.Numel(normalized);
        var dx = needX ? Tensor<T>.Uninitialized(input.ShapeArray) : null;
        var dw = needW ? Tensor.Zeros<T>(normalized) : null;
        var db = needB ? Tensor.Zeros<T>(normalized) : null;
        using var gr = gc.Read();
        using var xr = xc.Read();
        using var wr = wc is null ? default : wc.Read();
        using var mr = saved.Mean.Read();
        using var sr = saved.InvStd.Read();
        using var dxw = dx is null ? default : dx.Write();
        using var dww = dw is null ? default : dw.Write();
        using var dbw = db is null ? default : db.Write();
        LayerNormKernel.Backward(
            gr.Memory.Slice(gr.Offset, gc.Numel),
            xr.Memory.Slice(xr.Offset, xc.Numel),
            wc is null ? ReadOnlyMemory<T>.Empty : wr.Memory.Slice(wr.Offset, n),
            mr.Memory.Slice(mr.Offset, saved.Mean.Numel),
            sr.Memory.Slice(sr.Offset, saved.InvStd.Numel),
            n,
            dx is null ? Memory<T>.Empty : dxw.Memory.Slice(dxw.Offset, dx.Numel),
            dw is null ? Span<T>.Empty : dww.Memory.Span.Slice(dww.Offset, n),
            db is null ? Span<T>.Empty : dbw.Memory.Span.Slice(dbw.Offset, n));
        return (dx, dw, db);
    }
}
