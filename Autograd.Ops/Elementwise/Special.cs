namespace Autograd.Kernels;

/// <summary>Special functions .NET's Math lacks.</summary>
internal static class Special
{
    private static readonly double s_twoOverSqrtPi = 2 / Math.Sqrt(Math.PI);

    /// <summary>
    /// The error function to double precision. For |x| &lt; 6 it sums the series
    /// erf(x) = 2/√π · e^(−x²) · Σ_n 2ⁿ x^(2n+1) / (1·3·…·(2n+1)) (Abramowitz and Stegun 7.1.6), whose
    /// terms are all positive, so nothing cancels; for |x| ≥ 6, 1 − |erf(x)| &lt; 2·10⁻¹⁷ is below
    /// double resolution and erf is ±1. Smooth everywhere, so finite differences of it match its
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

        var x2 = ax * ax;
        var term = ax;
        var sum = ax;
        for (var n = 1; n < 200 && term > sum * 1e-17; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
        }

        return Math.CopySign(s_twoOverSqrtPi * Math.Exp(-x2) * sum, x);
    }

    /// <summary>log(1 + u), accurate for small u (Goldberg's correction of the rounded 1 + u).</summary>
    public static double Log1P(double u)
    {
        var w = 1 + u;
        return w == 1 ? u : Math.Log(w) * u / (w - 1);
    }
}
