using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Autograd.Kernels;

/// <summary>
/// e^x in float lanes, computed in float (Cephes' expf): n = round(x·log₂e), r = x − n·ln2 in two parts (Cody–Waite),
/// e^r by its degree-7 minimax polynomial 1 + r + r²·P(r) in fused multiply-adds, times 2ⁿ built in the exponent bits. The runtime's
/// <c>Vector512.Exp(Vector512&lt;float&gt;)</c> widens every lane to double and back, about twice the work; this one is
/// within 2 ulp of the correctly rounded value where the result is a normal float (MathOpTests checks it).
/// Below ln(2⁻¹²⁶) ≈ −87.34 the result is 0 (no subnormals), above 88.72 it is +∞, NaN stays NaN.
/// </summary>
internal static class FloatExp
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    private const float Lowest = -87.3365447f;   // ln(2⁻¹²⁶)
    private const float Highest = 88.7228391f;   // ln(2¹²⁸)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var c = Vector512.Min(Vector512.Max(x, Vector512.Create(Lowest)), Vector512.Create(Highest));
        var (n, er) = Reduced(c);
        // 2ⁿ for n in [−126, 128]: n = 128 (x near the top) is split as 2·2¹²⁷ so the exponent field stays finite.
        var top = Vector512.GreaterThan(n, Vector512.Create(127f));
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32Native(n - (top & Vector512<float>.One)) + Vector512.Create(127), 23).AsSingle();
        var y = er * scale * Vector512.ConditionalSelect(top, Vector512.Create(2f), Vector512<float>.One);
        y = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(Lowest)), Vector512<float>.Zero, y);
        y = Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(Highest)), Vector512.Create(float.PositiveInfinity), y);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), y, x);
    }

    /// <summary>
    /// e^x for x ≤ 88 (softmax's x − max, GELU's −x²/2, attention's recomputed s·scale − lse): <see cref="Exp(Vector512{float})"/>
    /// without the top binade's split and the overflow to +∞, which such arguments never reach (above 88 the result is
    /// not +∞). The same values as <see cref="Exp(Vector512{float})"/> there, bit for bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpNonPositive(Vector512<float> x) => Vector512.ConditionalSelect(Vector512.Equals(x, x), ExpNonPositiveOfNumber(x), x);

    /// <summary>
    /// <see cref="ExpNonPositive(Vector512{float})"/> of lanes that are not NaN (a NaN lane's result is unspecified), for callers whose
    /// result carries a NaN x through another term (GELU's x·e^(−x²/2)): the same values elsewhere, two operations fewer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpNonPositiveOfNumber(Vector512<float> x)
    {
        var c = Vector512.Min(Vector512.Max(x, Vector512.Create(Lowest)), Vector512.Create(88f));
        var (n, er) = Reduced(c);
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32Native(n) + Vector512.Create(127), 23).AsSingle();
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(Lowest)), Vector512<float>.Zero, er * scale);
    }

    /// <summary><see cref="ExpNonPositive(Vector512{float})"/> in eight lanes, the same operations in the same order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpNonPositive(Vector256<float> x) => Vector256.ConditionalSelect(Vector256.Equals(x, x), ExpNonPositiveOfNumber(x), x);

    /// <summary>
    /// <see cref="ExpNonPositive(Vector256{float})"/> of lanes that are not NaN (a NaN lane's result is unspecified), for callers whose
    /// result carries a NaN x through another term (GELU's x·e^(−x²/2)): the same values elsewhere, two operations fewer.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpNonPositiveOfNumber(Vector256<float> x)
    {
        var c = Vector256.Min(Vector256.Max(x, Vector256.Create(Lowest)), Vector256.Create(88f));
        var (n, er) = Reduced(c);
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Lowest)), Vector256<float>.Zero, er * scale);
    }

    /// <summary>n = round(c·log₂e) and e^r for r = c − n·ln2 (Cody–Waite in two fused steps, the polynomial in fused multiply-adds).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<float> N, Vector512<float> Er) Reduced(Vector512<float> c)
    {
        var n = Vector512.Round(c * Log2E);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), c));
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1.9875691500e-4f), r, Vector512.Create(1.3981999507e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201e-1f));
        return (n, Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One);
    }

    /// <summary><see cref="Reduced(Vector512{float})"/> in eight lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> N, Vector256<float> Er) Reduced(Vector256<float> c)
    {
        var n = Vector256.Round(c * Log2E);
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), c));
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(1.9875691500e-4f), r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        return (n, Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One);
    }

    /// <summary><see cref="Exp(Vector512{float})"/> in eight lanes, the same operations in the same order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var c = Vector256.Min(Vector256.Max(x, Vector256.Create(Lowest)), Vector256.Create(Highest));
        var (n, er) = Reduced(c);
        var top = Vector256.GreaterThan(n, Vector256.Create(127f));
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n - (top & Vector256<float>.One)) + Vector256.Create(127), 23).AsSingle();
        var y = er * scale * Vector256.ConditionalSelect(top, Vector256.Create(2f), Vector256<float>.One);
        y = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Lowest)), Vector256<float>.Zero, y);
        y = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(Highest)), Vector256.Create(float.PositiveInfinity), y);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), y, x);
    }
}
