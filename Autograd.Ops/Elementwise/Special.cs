using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autograd.Kernels;

/// <summary>Special functions .NET's Math lacks.</summary>
internal static class Special
{
    private static readonly double s_twoOverSqrtPi = 2 / Math.Sqrt(Math.PI);

    // Erf's table: grid points x₀ = k/ErfGrid for k = 0 … 6·ErfGrid, each with erf(x₀) and the Taylor coefficients
    // a₁ … a_ErfTerms of erf about x₀ (row k at k·(ErfTerms + 1)).
    private const int ErfGrid = 32;
    private const int ErfTerms = 8;
    private static readonly double[] s_erfTable = ErfTable();   // pinned: the vector form gathers from it

    /// <summary>
    /// The error function to double precision (within 2 ulp of the correctly rounded erf), in a table lookup
    /// and 8 multiply-adds: erf(x₀ + h) = erf(x₀) + Σₙ aₙhⁿ about the grid point x₀ nearest |x| (spacing 1/32, so
    /// |h| ≤ 1/64), with aₙ = erf⁽ⁿ⁾(x₀)/n! = 2/√π · e^(−x₀²) · (−1)ⁿ⁻¹ Hₙ₋₁(x₀)/n! (Hermite polynomials: the
    /// derivatives of e^(−x²)); the first omitted term is below 10⁻¹⁸. For |x| ≥ 6, 1 − |erf(x)| &lt; 2·10⁻¹⁷ is
    /// below double resolution and erf is ±1. The pieces meet to rounding, so finite differences of it match its
    /// derivative 2/√π · e^(−x²).
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x))
        {
            return x;
        }

        var ax = Math.Abs(x);
        if (ax >= 6)
        {
            return Math.CopySign(1, x);
        }

        var k = (int)(ax * ErfGrid + 0.5);
        var h = ax - (double)k / ErfGrid;   // exact: k/32 is within a factor 2 of ax (or 0)
        var row = s_erfTable.AsSpan(k * (ErfTerms + 1), ErfTerms + 1);
        var p = row[ErfTerms];
        for (var n = ErfTerms - 1; n >= 1; n--)
        {
            p = p * h + row[n];
        }

        return Math.CopySign(row[0] + p * h, x);
    }

    /// <summary>
    /// <see cref="Erf(double)"/> of four lanes with AVX2 gathers from the same table: the same operations in the same
    /// order, so each lane has the scalar function's bits. Only when <see cref="Avx2.IsSupported"/>.
    /// </summary>
    public static unsafe Vector256<double> Erf(Vector256<double> x)
    {
        var ax = Vector256.Abs(x);
        var inTable = Vector256.LessThan(ax, Vector256.Create(6.0));   // false for |x| ≥ 6 and NaN
        var a = Vector256.ConditionalSelect(inTable, ax, Vector256<double>.Zero);
        var k = Vector256.Floor(a * ErfGrid + Vector256.Create(0.5));
        var h = a - k / ErfGrid;
        var row = Avx.ConvertToVector128Int32WithTruncation(k) * (ErfTerms + 1);
        Vector256<double> r;
        fixed (double* table = s_erfTable)
        {
            var p = Avx2.GatherVector256(table + ErfTerms, row, 8);
            for (var n = ErfTerms - 1; n >= 1; n--)
            {
                p = p * h + Avx2.GatherVector256(table + n, row, 8);
            }

            r = Avx2.GatherVector256(table, row, 8) + p * h;
        }

        var outside = Vector256.ConditionalSelect(Vector256.Equals(ax, ax), Vector256<double>.One, ax);   // ±1, or NaN
        return Vector256.CopySign(Vector256.ConditionalSelect(inTable, r, outside), x);
    }

    /// <summary>
    /// erf in float, sixteen lanes: Eigen's rational approximation for single precision (the same constants as
    /// its <c>generic_fast_erf_float</c>), erf(x) ≈ x·P(x²)/Q(x²) with x clamped to [−4, 4] (beyond, 1 − |erf| is
    /// below float resolution), P of degree 6 and Q of degree 4 in x². Written x·(P/Q) so that tiny |x| keeps its
    /// relative precision. Against double-precision erf over every float: within 5·10⁻⁷ absolute and 8 ulp of the
    /// float result (MathOpTests checks both), about 16× cheaper than <see cref="Erf(Vector256{double})"/> per element.
    /// NaN stays NaN, ±∞ gives ±1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Erf(Vector512<float> x) => Vector512.ConditionalSelect(Vector512.Equals(x, x), ErfOfNumber(x), x);

    /// <summary>
    /// <see cref="Erf(Vector512{float})"/> of lanes that are not NaN (a NaN lane's result is unspecified), for callers whose result
    /// carries a NaN x through another term (GELU's ½x·(1 + erf)): the same values elsewhere, two operations fewer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ErfOfNumber(Vector512<float> x)
    {
        // Horner's rule in fused multiply-adds, written out (a loop would keep the JIT from inlining this into the callers' loops).
        var c = Vector512.Min(Vector512.Max(x, Vector512.Create(-4f)), Vector512.Create(4f));
        var x2 = c * c;
        var p = Vector512.Create(ErfP0);
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(ErfP1));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(ErfP2));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(ErfP3));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(ErfP4));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(ErfP5));
        p = Vector512.FusedMultiplyAdd(p, x2, Vector512.Create(ErfP6));
        var q = Vector512.Create(ErfQ0);
        q = Vector512.FusedMultiplyAdd(q, x2, Vector512.Create(ErfQ1));
        q = Vector512.FusedMultiplyAdd(q, x2, Vector512.Create(ErfQ2));
        q = Vector512.FusedMultiplyAdd(q, x2, Vector512.Create(ErfQ3));
        q = Vector512.FusedMultiplyAdd(q, x2, Vector512.Create(ErfQ4));
        return Vector512.Min(Vector512.Max(c * (p / q), Vector512.Create(-1f)), Vector512<float>.One);
    }

    /// <summary><see cref="Erf(Vector512{float})"/> in eight lanes, the same operations in the same order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Erf(Vector256<float> x) => Vector256.ConditionalSelect(Vector256.Equals(x, x), ErfOfNumber(x), x);

    /// <summary>
    /// <see cref="Erf(Vector256{float})"/> of lanes that are not NaN (a NaN lane's result is unspecified), for callers whose result
    /// carries a NaN x through another term (GELU's ½x·(1 + erf)): the same values elsewhere, two operations fewer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ErfOfNumber(Vector256<float> x)
    {
        // Horner's rule in fused multiply-adds, written out (a loop would keep the JIT from inlining this into the callers' loops).
        var c = Vector256.Min(Vector256.Max(x, Vector256.Create(-4f)), Vector256.Create(4f));
        var x2 = c * c;
        var p = Vector256.Create(ErfP0);
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(ErfP1));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(ErfP2));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(ErfP3));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(ErfP4));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(ErfP5));
        p = Vector256.FusedMultiplyAdd(p, x2, Vector256.Create(ErfP6));
        var q = Vector256.Create(ErfQ0);
        q = Vector256.FusedMultiplyAdd(q, x2, Vector256.Create(ErfQ1));
        q = Vector256.FusedMultiplyAdd(q, x2, Vector256.Create(ErfQ2));
        q = Vector256.FusedMultiplyAdd(q, x2, Vector256.Create(ErfQ3));
        q = Vector256.FusedMultiplyAdd(q, x2, Vector256.Create(ErfQ4));
        return Vector256.Min(Vector256.Max(c * (p / q), Vector256.Create(-1f)), Vector256<float>.One);
    }

    // The float erf's numerator (x¹² … x⁰ coefficients of P(x²)·x / x) and denominator (x⁸ … x⁰), highest first.
    private const float ErfP0 = -2.72614225801306e-10f;
    private const float ErfP1 = 2.77068142495902e-08f;
    private const float ErfP2 = -2.10102402082508e-06f;
    private const float ErfP3 = -5.69250639462346e-05f;
    private const float ErfP4 = -7.34990630326855e-04f;
    private const float ErfP5 = -2.95459980854025e-03f;
    private const float ErfP6 = -1.60960333262415e-02f;
    private const float ErfQ0 = -1.45660718464996e-05f;
    private const float ErfQ1 = -2.13374055278905e-04f;
    private const float ErfQ2 = -1.68282697438203e-03f;
    private const float ErfQ3 = -7.37332916720468e-03f;
    private const float ErfQ4 = -1.42647390514189e-02f;

    /// <summary>
    /// erf(x₀) (<see cref="ErfSeries"/> below 0.75, 1 − <see cref="ErfcFraction"/> from there, where the series' rounding
    /// grows) and the Taylor coefficients aₙ of <see cref="Erf(double)"/> at every grid point.
    /// </summary>
    private static double[] ErfTable()
    {
        var table = GC.AllocateArray<double>((6 * ErfGrid + 1) * (ErfTerms + 1), pinned: true);
        Span<double> hermite = stackalloc double[ErfTerms];
        for (var k = 0; k <= 6 * ErfGrid; k++)
        {
            var x0 = (double)k / ErfGrid;
            var row = table.AsSpan(k * (ErfTerms + 1), ErfTerms + 1);
            row[0] = x0 < 0.75 ? ErfSeries(x0) : 1 - ErfcFraction(x0);
            hermite[0] = 1;
            hermite[1] = 2 * x0;
            for (var n = 1; n + 1 < ErfTerms; n++)
            {
                hermite[n + 1] = 2 * x0 * hermite[n] - 2 * n * hermite[n - 1];
            }

            var scale = s_twoOverSqrtPi * Math.Exp(-x0 * x0);   // erf'(x₀)
            for (var n = 1; n <= ErfTerms; n++)
            {
                scale /= n;
                row[n] = (n % 2 == 1 ? scale : -scale) * hermite[n - 1];
            }
        }

        return table;
    }

    /// <summary>
    /// erf(x) for 0 ≤ x &lt; 0.75 by the series 2/√π · e^(−x²) · Σ_n 2ⁿ x^(2n+1) / (1·3·…·(2n+1)) (Abramowitz and
    /// Stegun 7.1.6), whose terms are all positive, so nothing cancels; it only fills <see cref="Erf(double)"/>'s table.
    /// </summary>
    internal static double ErfSeries(double x)
    {
        var x2 = x * x;
        var term = x;
        var sum = x;
        for (var n = 1; n < 200 && term > sum * 1e-17; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
        }

        return s_twoOverSqrtPi * Math.Exp(-x2) * sum;
    }

    /// <summary>
    /// erfc(x) for x ≥ 0.75 by Laplace's continued fraction erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))),
    /// the partial numerators n/2, evaluated from 400 levels down (converged to double precision from x = 0.75 on);
    /// accurate relative to erfc, so 1 − erfc is erf to rounding. It only fills <see cref="Erf(double)"/>'s table.
    /// </summary>
    internal static double ErfcFraction(double x)
    {
        var t = x;
        for (var n = 400; n >= 1; n--)
        {
            t = x + n / 2.0 / t;
        }

        return Math.Exp(-x * x) / (Math.Sqrt(Math.PI) * t);
    }

    /// <summary>log(1 + u), accurate for small u (Goldberg's correction of the rounded 1 + u).</summary>
    public static double Log1P(double u)
    {
        var w = 1 + u;
        return w == 1 ? u : Math.Log(w) * u / (w - 1);
    }
}
