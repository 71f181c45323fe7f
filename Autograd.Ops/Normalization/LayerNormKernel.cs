using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// LayerNorm's forward and VJP over contiguous rows of length n (the normalised dims flattened): per row two or three
/// fused Vector&lt;T&gt; loops (a TensorPrimitives call per step cost more than its 128 elements of work at the GPT's
/// width) instead of a dozen whole-tensor ops. Rows are independent in the forward and
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
                var mu = Simd.Sum<T>(xr) / count;
                var inv = T.One / T.Sqrt(CenteredSquares(xr, mu, yr) / count + eps);
                ScaleShift(yr, inv, ws, bs);
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
                for (var r = start; r < end; r++)
                {
                    var (a, c) = GradientMeans(gs.Slice(r * n, n), xs.Slice(r * n, n), ws, ms[r], ss[r]);
                    InputGradient(gs.Slice(r * n, n), xs.Slice(r * n, n), ws, ms[r], ss[r], a / count, c / count, ds.Slice(r * n, n));
                }
            });
        }

        if (dw.IsEmpty && db.IsEmpty)
        {
            return;
        }

        ReadOnlySpan<T> gs = g.Span, xs = x.Span, ms = mean.Span, ss = invStd.Span;
        for (var r = 0; r < rows; r++)
        {
            WeightGradients(gs.Slice(r * n, n), xs.Slice(r * n, n), ms[r], ss[r], dw, db);
        }
    }

    /// <summary>dw += g·x̂ and db += g over a row (each skipped when empty).</summary>
    private static void WeightGradients<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, T mu, T inv, Span<T> dw, Span<T> db)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (m, s) = (new Vector<T>(mu), new Vector<T>(inv));
        var i = 0;
        for (; i + Vector<T>.Count <= g.Length; i += Vector<T>.Count)
        {
            var gv = new Vector<T>(g[i..]);
            if (!dw.IsEmpty)
            {
                (new Vector<T>(dw[i..]) + (gv * ((new Vector<T>(x[i..]) - m) * s))).CopyTo(dw[i..]);
            }

            if (!db.IsEmpty)
            {
                (new Vector<T>(db[i..]) + gv).CopyTo(db[i..]);
            }
        }

        for (; i < g.Length; i++)
        {
            if (!dw.IsEmpty)
            {
                dw[i] += g[i] * ((x[i] - mu) * inv);
            }

            if (!db.IsEmpty)
            {
                db[i] += g[i];
            }
        }
    }

    /// <summary>y = x − μ, returning Σ (x − μ)².</summary>
    private static T CenteredSquares<T>(ReadOnlySpan<T> x, T mu, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (acc, m) = (Vector<T>.Zero, new Vector<T>(mu));
        var i = 0;
        for (; i + Vector<T>.Count <= x.Length; i += Vector<T>.Count)
        {
            var d = new Vector<T>(x[i..]) - m;
            d.CopyTo(y[i..]);
            acc += d * d;
        }

        var sum = Vector.Sum(acc);
        for (; i < x.Length; i++)
        {
            var d = x[i] - mu;
            y[i] = d;
            sum += d * d;
        }

        return sum;
    }

    /// <summary>y = y·σ⁻¹·w + b, without w or b when empty.</summary>
    private static void ScaleShift<T>(Span<T> y, T inv, ReadOnlySpan<T> w, ReadOnlySpan<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = new Vector<T>(inv);
        var i = 0;
        for (; i + Vector<T>.Count <= y.Length; i += Vector<T>.Count)
        {
            var v = new Vector<T>(y[i..]) * s;
            v = w.IsEmpty ? v : v * new Vector<T>(w[i..]);
            v = b.IsEmpty ? v : v + new Vector<T>(b[i..]);
            v.CopyTo(y[i..]);
        }

        for (; i < y.Length; i++)
        {
            var v = y[i] * inv;
            v = w.IsEmpty ? v : v * w[i];
            y[i] = b.IsEmpty ? v : v + b[i];
        }
    }

    /// <summary>Σ gx̂ and Σ gx̂·x̂ over a row, gx̂ = g·w (g without w), x̂ = (x − μ)·σ⁻¹.</summary>
    private static (T SumG, T SumGX) GradientMeans<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, T mu, T inv)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (a, c, m, s) = (Vector<T>.Zero, Vector<T>.Zero, new Vector<T>(mu), new Vector<T>(inv));
        var i = 0;
        for (; i + Vector<T>.Count <= g.Length; i += Vector<T>.Count)
        {
            var gh = w.IsEmpty ? new Vector<T>(g[i..]) : new Vector<T>(g[i..]) * new Vector<T>(w[i..]);
            a += gh;
            c += gh * ((new Vector<T>(x[i..]) - m) * s);
        }

        var (sa, sc) = (Vector.Sum(a), Vector.Sum(c));
        for (; i < g.Length; i++)
        {
            var gh = w.IsEmpty ? g[i] : g[i] * w[i];
            sa += gh;
            sc += gh * ((x[i] - mu) * inv);
        }

        return (sa, sc);
    }

    /// <summary>dx = σ⁻¹·(gx̂ − a − x̂·c) over a row, a = mean(gx̂), c = mean(gx̂·x̂).</summary>
    private static void InputGradient<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, T mu, T inv, T a, T c, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (va, vc, m, s) = (new Vector<T>(a), new Vector<T>(c), new Vector<T>(mu), new Vector<T>(inv));
        var i = 0;
        for (; i + Vector<T>.Count <= g.Length; i += Vector<T>.Count)
        {
            var gh = w.IsEmpty ? new Vector<T>(g[i..]) : new Vector<T>(g[i..]) * new Vector<T>(w[i..]);
            var xh = (new Vector<T>(x[i..]) - m) * s;
            ((gh - va - (xh * vc)) * s).CopyTo(dx[i..]);
        }

        for (; i < g.Length; i++)
        {
            var gh = w.IsEmpty ? g[i] : g[i] * w[i];
            dx[i] = (gh - a - ((x[i] - mu) * inv * c)) * inv;
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
