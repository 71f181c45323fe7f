using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Autograd.Kernels;

/// <summary>
/// LayerNorm's forward and VJP over contiguous rows of length n (the normalised dims flattened): per row two or three
/// fused vector loops (a TensorPrimitives call per step cost more than its 128 elements of work at the GPT's
/// width) instead of a dozen whole-tensor ops; 512-bit vectors where the machine has them
/// (<see cref="Wide"/>), else Vector&lt;T&gt;. Rows are independent in the forward and in dx, so those are split over
/// threads by rows. dweight and dbias sum over rows: each block of <see cref="SumBlock"/> rows sums its own in row
/// order, in the same pass as its dx, and the blocks' sums are added in block order on the calling thread, so the
/// bits are the same at any thread count.
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
                if (Wide<T>())
                {
                    (ms[r], ss[r]) = WideRows.Forward(xr, ws, bs, eps, yr);
                    continue;
                }

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
        var blocks = (rows + SumBlock - 1) / SumBlock;
        var (needW, needB) = (!dw.IsEmpty, !db.IsEmpty);
        if (dx.IsEmpty && !needW && !needB)
        {
            return;
        }

        // Block k's Σ g·x̂ and Σ g over its rows, at [k·n, (k + 1)·n) of each.
        var partW = needW ? ArrayPool<T>.Shared.Rent(blocks * n) : null;
        var partB = needB ? ArrayPool<T>.Shared.Rent(blocks * n) : null;
        try
        {
            var chunks = Math.Min(Elementwise.Chunks((long)rows * n), blocks);
            Threads.ForRanges(blocks, chunks, (first, last) =>
            {
                ReadOnlySpan<T> gs = g.Span, xs = x.Span, ws = w.Span, ms = mean.Span, ss = invStd.Span;
                var ds = dx.Span;
                for (var k = first; k < last; k++)
                {
                    var pw = partW is null ? Span<T>.Empty : partW.AsSpan(k * n, n);
                    var pb = partB is null ? Span<T>.Empty : partB.AsSpan(k * n, n);
                    pw.Clear();
                    pb.Clear();
                    for (var r = k * SumBlock; r < Math.Min(rows, (k + 1) * SumBlock); r++)
                    {
                        var gr = gs.Slice(r * n, n);
                        var xr = xs.Slice(r * n, n);
                        var dr = ds.IsEmpty ? Span<T>.Empty : ds.Slice(r * n, n);
                        if (Wide<T>())
                        {
                            WideRows.Backward(gr, xr, ws, ms[r], ss[r], dr, pw, pb);
                            continue;
                        }

                        if (!dr.IsEmpty)
                        {
                            var count = T.CreateTruncating(n);
                            var (a, c) = GradientMeans(gr, xr, ws, ms[r], ss[r]);
                            InputGradient(gr, xr, ws, ms[r], ss[r], a / count, c / count, dr);
                        }

                        WeightGradients(gr, xr, ms[r], ss[r], pw, pb);
                    }
                }
            });

            for (var k = 0; k < blocks; k++)
            {
                if (needW)
                {
                    TensorPrimitives.Add(dw, partW.AsSpan(k * n, n), dw);
                }

                if (needB)
                {
                    TensorPrimitives.Add(db, partB.AsSpan(k * n, n), db);
                }
            }
        }
        finally
        {
            if (partW is not null)
            {
                ArrayPool<T>.Shared.Return(partW);
            }

            if (partB is not null)
            {
                ArrayPool<T>.Shared.Return(partB);
            }
        }
    }

    /// <summary>Rows per block of the dweight and dbias sums: each block sums its rows in order, the blocks are summed in order.</summary>
    internal const int SumBlock = 32;

    /// <summary>Whether the rows run in 512-bit vectors (<see cref="Simd.Width{T}"/>; <see cref="Simd.ForceVector256"/> turns it off).</summary>
    private static bool Wide<T>()
        where T : unmanaged => Simd.Width<T>() == VectorWidth.Vector512;

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

    /// <summary>
    /// The rows in 512-bit vectors: whole vectors, then the last n mod lanes elements one by one. Each row is
    /// read from L1 two or three times (n = 128 floats is 512 bytes), so the passes cost loads, not memory.
    /// </summary>
    private static class WideRows
    {
        /// <summary>y = (x − μ)·σ⁻¹·w + b over a row (w, b empty for none); returns (μ, σ⁻¹).</summary>
        public static (T Mean, T InvStd) Forward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, ReadOnlySpan<T> b, T eps, Span<T> y)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            int n = x.Length, lanes = Vector512<T>.Count, whole = n - (n % lanes);
            ref var xr = ref MemoryMarshal.GetReference(x);
            var count = T.CreateTruncating(n);
            var (s0, s1) = (Vector512<T>.Zero, Vector512<T>.Zero);
            var i = 0;
            for (; i + (2 * lanes) <= whole; i += 2 * lanes)
            {
                s0 += Vector512.LoadUnsafe(ref xr, (nuint)i);
                s1 += Vector512.LoadUnsafe(ref xr, (nuint)(i + lanes));
            }

            for (; i < whole; i += lanes)
            {
                s0 += Vector512.LoadUnsafe(ref xr, (nuint)i);
            }

            var sum = Vector512.Sum(s0 + s1);
            for (; i < n; i++)
            {
                sum += x[i];
            }

            var mu = sum / count;
            var m = Vector512.Create(mu);
            var q = Vector512<T>.Zero;
            for (i = 0; i < whole; i += lanes)
            {
                var d = Vector512.LoadUnsafe(ref xr, (nuint)i) - m;
                q = Lanes512<T>.Fma(d, d, q);
            }

            var squares = Vector512.Sum(q);
            for (; i < n; i++)
            {
                squares += (x[i] - mu) * (x[i] - mu);
            }

            var inv = T.One / T.Sqrt((squares / count) + eps);
            var s = Vector512.Create(inv);
            ref var yr = ref MemoryMarshal.GetReference(y);
            ref var wr = ref MemoryMarshal.GetReference(w);
            ref var br = ref MemoryMarshal.GetReference(b);
            var (hasW, hasB) = (!w.IsEmpty, !b.IsEmpty);
            for (i = 0; i < whole; i += lanes)
            {
                var v = (Vector512.LoadUnsafe(ref xr, (nuint)i) - m) * s;
                v = hasW ? v * Vector512.LoadUnsafe(ref wr, (nuint)i) : v;
                v = hasB ? v + Vector512.LoadUnsafe(ref br, (nuint)i) : v;
                v.StoreUnsafe(ref yr, (nuint)i);
            }

            for (; i < n; i++)
            {
                var v = (x[i] - mu) * inv;
                v = hasW ? v * w[i] : v;
                y[i] = hasB ? v + b[i] : v;
            }

            return (mu, inv);
        }

        /// <summary>
        /// One row of the VJP: dx (when not empty) = σ⁻¹·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂)), gx̂ = g·w; and
        /// pw += g·x̂, pb += g (each when not empty).
        /// </summary>
        public static void Backward<T>(ReadOnlySpan<T> g, ReadOnlySpan<T> x, ReadOnlySpan<T> w, T mu, T inv, Span<T> dx, Span<T> pw, Span<T> pb)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            int n = x.Length, lanes = Vector512<T>.Count, whole = n - (n % lanes);
            ref var gr = ref MemoryMarshal.GetReference(g);
            ref var xr = ref MemoryMarshal.GetReference(x);
            ref var wr = ref MemoryMarshal.GetReference(w);
            var hasW = !w.IsEmpty;
            var (m, s) = (Vector512.Create(mu), Vector512.Create(inv));
            int i;
            if (!dx.IsEmpty)
            {
                var (va, vc) = (Vector512<T>.Zero, Vector512<T>.Zero);
                for (i = 0; i < whole; i += lanes)
                {
                    var gv = Vector512.LoadUnsafe(ref gr, (nuint)i);
                    var gh = hasW ? gv * Vector512.LoadUnsafe(ref wr, (nuint)i) : gv;
                    va += gh;
                    vc = Lanes512<T>.Fma(gh, (Vector512.LoadUnsafe(ref xr, (nuint)i) - m) * s, vc);
                }

                var (a, c) = (Vector512.Sum(va), Vector512.Sum(vc));
                for (; i < n; i++)
                {
                    var gh = hasW ? g[i] * w[i] : g[i];
                    a += gh;
                    c += gh * ((x[i] - mu) * inv);
                }

                var count = T.CreateTruncating(n);
                (a, c) = (a / count, c / count);
                (va, vc) = (Vector512.Create(a), Vector512.Create(c));
                ref var dr = ref MemoryMarshal.GetReference(dx);
                for (i = 0; i < whole; i += lanes)
                {
                    var gv = Vector512.LoadUnsafe(ref gr, (nuint)i);
                    var gh = hasW ? gv * Vector512.LoadUnsafe(ref wr, (nuint)i) : gv;
                    var xh = (Vector512.LoadUnsafe(ref xr, (nuint)i) - m) * s;
                    ((gh - va - (xh * vc)) * s).StoreUnsafe(ref dr, (nuint)i);
                }

                for (; i < n; i++)
                {
                    var gh = hasW ? g[i] * w[i] : g[i];
                    dx[i] = (gh - a - ((x[i] - mu) * inv * c)) * inv;
                }
            }

            if (pw.IsEmpty && pb.IsEmpty)
            {
                return;
            }

            ref var pwr = ref MemoryMarshal.GetReference(pw);
            ref var pbr = ref MemoryMarshal.GetReference(pb);
            var (hasPw, hasPb) = (!pw.IsEmpty, !pb.IsEmpty);
            for (i = 0; i < whole; i += lanes)
            {
                var gv = Vector512.LoadUnsafe(ref gr, (nuint)i);
                if (hasPw)
                {
                    (Vector512.LoadUnsafe(ref pwr, (nuint)i) + (gv * ((Vector512.LoadUnsafe(ref xr, (nuint)i) - m) * s))).StoreUnsafe(ref pwr, (nuint)i);
                }

                if (hasPb)
                {
                    (Vector512.LoadUnsafe(ref pbr, (nuint)i) + gv).StoreUnsafe(ref pbr, (nuint)i);
                }
            }

            for (; i < n; i++)
            {
                if (hasPw)
                {
                    pw[i] += g[i] * ((x[i] - mu) * inv);
                }

                if (hasPb)
                {
                    pb[i] += g[i];
                }
            }
        }
    }
}
