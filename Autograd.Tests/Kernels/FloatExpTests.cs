using System.Runtime.Intrinsics;
using Autograd.Kernels;

namespace Autograd.Tests.Kernels;

public class FloatExpTests
{
    [Test]
    public void Exp_IsWithinTwoUlp_OverTheNormalRange_AtBothWidths()
    {
        // Every 97th float bit pattern of either sign whose exponential is a normal float (|x| up to ~88), against
        // Math.Exp in double: ≤ 2 ulp of the float result; the 256-bit form gives the 512-bit form's bits.
        var xs = new float[16];
        var worst = 0.0;
        foreach (var sign in new[] { 1f, -1f })
        {
            for (long bits = 0; bits <= BitConverter.SingleToInt32Bits(87.3f); bits += 97 * 16)
            {
                for (var j = 0; j < 16; j++)
                {
                    xs[j] = sign * BitConverter.Int32BitsToSingle((int)(bits + j * 97));
                }

                var v512 = FloatExp.Exp(Vector512.Create(xs));
                var v256 = FloatExp.Exp(Vector256.Create(xs.AsSpan(8)));
                for (var j = 0; j < 16; j++)
                {
                    var reference = Math.Exp(xs[j]);
                    var ulp = MathF.BitIncrement((float)reference) - (float)reference;
                    var error = Math.Abs(v512[j] - reference) / ulp;
                    worst = Math.Max(worst, error);
                    if (error > 2)
                    {
                        Assert.Fail($"exp({xs[j]:R}) = {v512[j]:R}, double exp {reference:R}: {error:F2} ulp");
                    }

                    if (j >= 8)
                    {
                        Assert.That(BitConverter.SingleToInt32Bits(v256[j - 8]), Is.EqualTo(BitConverter.SingleToInt32Bits(v512[j])), $"256 bits, exp({xs[j]:R})");
                    }
                }
            }
        }

        TestContext.Out.WriteLine($"float exp: max {worst:F2} ulp");
    }

    [Test]
    public void ExpNonPositive_GivesExpsBits_UpTo88_AtBothWidths()
    {
        // Every 31st float bit pattern from −100 to 0 and from 0 to 88 (softmax's and GELU's arguments, and a margin):
        // the same bits as Exp, whose accuracy the test above checks; NaN stays NaN and −∞ gives 0.
        var xs = new float[16];
        foreach (var (sign, top) in new[] { (-1f, 100f), (1f, 88f) })
        {
            var last = BitConverter.SingleToInt32Bits(top);
            for (long bits = 0; bits <= last; bits += 31 * 16)
            {
                for (var j = 0; j < 16; j++)
                {
                    xs[j] = sign * BitConverter.Int32BitsToSingle((int)Math.Min(bits + j * 31, last));
                }

                var exact = FloatExp.Exp(Vector512.Create(xs));
                var v512 = FloatExp.ExpNonPositive(Vector512.Create(xs));
                var v256 = FloatExp.ExpNonPositive(Vector256.Create(xs.AsSpan(8)));
                for (var j = 0; j < 16; j++)
                {
                    Assert.That(BitConverter.SingleToInt32Bits(v512[j]), Is.EqualTo(BitConverter.SingleToInt32Bits(exact[j])), $"exp({xs[j]:R})");
                    if (j >= 8)
                    {
                        Assert.That(BitConverter.SingleToInt32Bits(v256[j - 8]), Is.EqualTo(BitConverter.SingleToInt32Bits(v512[j])), $"256 bits, exp({xs[j]:R})");
                    }
                }
            }
        }

        var special = FloatExp.ExpNonPositive(Vector256.Create(float.NaN, float.NegativeInfinity, -100f, 0f, -87.33f, -1e-30f, 1f, -0f));
        Assert.That(special[0], Is.NaN);
        Assert.That((special[1], special[2], special[3], special[5], special[7]), Is.EqualTo((0f, 0f, 1f, 1f, 1f)));
        Assert.That(special[6], Is.EqualTo(MathF.E).Within(2e-7 * MathF.E));
    }

    [Test]
    public void Exp_SpecialValues()
    {
        var y = FloatExp.Exp(Vector256.Create(float.NaN, float.NegativeInfinity, float.PositiveInfinity, -100f, 100f, 0f, 88.72f, -87.33f));
        Assert.That(y[0], Is.NaN);
        Assert.That((y[1], y[2], y[3], y[4], y[5]), Is.EqualTo((0f, float.PositiveInfinity, 0f, float.PositiveInfinity, 1f)));
        Assert.That(y[6], Is.EqualTo(MathF.Exp(88.72f)).Within(2e-7 * MathF.Exp(88.72f)), "the top binade, 2¹²⁷ < e^x < 2¹²⁸");
        Assert.That(y[7], Is.EqualTo(MathF.Exp(-87.33f)).Within(2e-7 * MathF.Exp(-87.33f)), "the bottom normal binade");
    }
}
