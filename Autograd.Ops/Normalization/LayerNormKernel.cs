using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;

namespace Autograd.Kernels;

/// <summary>
/// LayerNorm's forward and VJP over contiguous rows of length n (the normalised dims flattened), one pass of a few
/// row-long vector operations per row instead of a dozen whole-tensor ops. Rows are independent in the forward and
/// in dx, so those are split over threads by rows (the same bits at any thread count); dweight and dbias sum over
/// rows, in row order, on the calling thread.
/// </summary>
internal static class LayerNormKernel
{
    /// <summary>
    /// y = (x − μ)·σ⁻¹·w + b per row, μ the row's mean and σ⁻¹ = 1/√(var + eps) with the biased variance
    /// (two passes: Σ(x − μ)²); <paramref name="w"/> and <paramref name="b"/> of length n, or empty for none.
    /// Writes each row's μ and σ⁻¹.
    /// </summary>
    public static void Forward<T>(ReadOnlyMemory<T> x, ReadOnlyMemory<T> w, ReadOnlyMemory<T> b, int n, T eps, Memory<T> y, Memory<T> mean, Memory<T> invStd)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rows = mean.Length;
        ForRows(rows, n, (start, end) =>
        {
            ReadOnlySpan<T> xs = x.Span, ws = w.Span, bs = b.Span;
            Span<T> ys = y.Span, ms = mean.Span, ss = invStd.Span;
            var count = T.CreateTruncating(n);
            for (var r = start; r < end; r++)
            {
                var xr = xs.Slice(r * n, n);
                var yr = ys.Slice(r * n, n);
                var mu = TensorPrimitives.Sum(xr) / count;
                TensorPrimitives.Subtract(xr, mu, yr);
                var inv = T.One / T.Sqrt(TensorPrimitives.SumOfSquares<T>(yr) / count + eps);
                TensorPrimitives.Multiply<T>(yr, inv, yr);
                if (!ws.IsEmpty)
                {
                    TensorPrimitives.Multiply<T>(yr, ws, yr);
                }

                if (!bs.IsEmpty)
                {
                    TensorPrimitives.Add<T>(yr, bs, yr);
                }

                (ms[r], ss[r]) = (mu, inv);
            }
        });
    }

    /// <summary>
    /// The VJP with x̂ = (x − μ)·σ⁻¹ and gx̂ = g·w (g without a weight): dx = σ⁻¹·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂))
    /// per row into <paramref name="dx"/> (when not empty); dw += Σ_rows g·x̂ and db += Σ_rows g into
    /// <paramref name="dw"/> and <paramref name="db"/> (when not empty; the caller zeroes them).
    /// </summary>
    public static void Backward<T>(ReadOnlyMemory<T> g, ReadOnlyMemory<T> x, ReadOnlyMemory<T> w, ReadOnlyMemory<T> mean, ReadOnlyMemory<T> invStd, int n, Memory<T> dx, Span<T> dw, Span<T> db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rows = mean.Length;
        if (!dx.IsEmpty)
        {
            ForRows(rows, n, (start, end) =>
            {
                ReadOnlySpan<T> gs = g.Span, xs = x.Span, ws = w.Span, ms = mean.Span, ss = invStd.Span;
                var ds = dx.Span;
                var count = T.CreateTruncating(n);
                var rent = ArrayPool<T>.Shared.Rent(2 * n);
                try
                {
                    var xHat = rent.AsSpan(0, n);
                    var gHat = rent.AsSpan(n, n);
                    for (var r = start; r < end; r++)
                    {
                        var gr = gs.Slice(r * n, n);
                        var inv = ss[r];
                        TensorPrimitives.Subtract(xs.Slice(r * n, n), ms[r], xHat);
                        TensorPrimitives.Multiply<T>(xHat, inv, xHat);
                        if (ws.IsEmpty)
                        {
                            gr.CopyTo(gHat);
                        }
                        else
                        {
                            TensorPrimitives.Multiply(gr, ws, gHat);
                        }

                        var a = TensorPrimitives.Sum<T>(gHat) / count;
                        var c = TensorPrimitives.Dot<T>(gHat, xHat) / count;
                        // gx̂ − x̂·c, then (· − a)·σ⁻¹.
                        TensorPrimitives.MultiplyAdd<T>(xHat, -c, gHat, gHat);
                        TensorPrimitives.Subtract<T>(gHat, a, gHat);
                        TensorPrimitives.Multiply<T>(gHat, inv, ds.Slice(r * n, n));
                    }
                }
                finally
                {
                    ArrayPool<T>.Shared.Return(rent);
                }
            });
        }

        if (dw.IsEmpty && db.IsEmpty)
        {
            return;
        }

        ReadOnlySpan<T> gs = g.Span, xs = x.Span, ms = mean.Span, ss = invStd.Span;
        var buffer = ArrayPool<T>.Shared.Rent(n);
        try
        {
            var xHat = buffer.AsSpan(0, n);
            for (var r = 0; r < rows; r++)
            {
                var gr = gs.Slice(r * n, n);
                if (!dw.IsEmpty)
                {
                    TensorPrimitives.Subtract(xs.Slice(r * n, n), ms[r], xHat);
                    TensorPrimitives.Multiply<T>(xHat, ss[r], xHat);
                    TensorPrimitives.MultiplyAdd<T>(gr, xHat, dw, dw);
                }

                if (!db.IsEmpty)
                {
                    TensorPrimitives.Add<T>(db, gr, db);
                }
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(buffer);
        }
    }

    /// <summary>Rows split over threads by the elementwise kernels' size threshold (one chunk, on the caller, below it).</summary>
    private static void ForRows(int rows, int n, Action<int, int> body)
    {
        var chunks = Math.Min(Elementwise.Chunks((long)rows * n), rows);
        if (chunks <= 1)
        {
            body(0, rows);
            return;
        }

        Threads.ForRanges(rows, chunks, body);
    }
}
