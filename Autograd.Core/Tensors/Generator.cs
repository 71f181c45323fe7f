namespace Autograd;

/// <summary>
/// A seedable random source for tensor factories (PyTorch's torch.Generator): xoshiro256** seeded
/// through SplitMix64, normals by Box-Muller. The same seed gives the same tensors on every machine.
/// </summary>
public sealed class Generator
{
    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;
    private double? _spareNormal;

    public Generator(ulong seed)
    {
        ManualSeed(seed);
    }

    /// <summary>Restarts the sequence from <paramref name="seed"/>.</summary>
    public void ManualSeed(ulong seed)
    {
        var s = seed;
        _s0 = SplitMix(ref s);
        _s1 = SplitMix(ref s);
        _s2 = SplitMix(ref s);
        _s3 = SplitMix(ref s);
        _spareNormal = null;
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Standard normal.</summary>
    public double NextNormal()
    {
        if (_spareNormal is { } spare)
        {
            _spareNormal = null;
            return spare;
        }

        double u;
        do
        {
            u = NextDouble();
        }
        while (u <= double.Epsilon);

        var v = NextDouble();
        var r = Math.Sqrt(-2.0 * Math.Log(u));
        _spareNormal = r * Math.Sin(2 * Math.PI * v);
        return r * Math.Cos(2 * Math.PI * v);
    }

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        return (int)(NextUInt64() % (ulong)n);
    }

    /// <summary>
    /// Uniform in [0, <paramref name="bound"/>) without modulo bias: draws below 2⁶⁴ mod bound are rejected,
    /// so the rest fall evenly on every residue (arc4random_uniform's method).
    /// </summary>
    internal ulong NextBelow(ulong bound)
    {
        var threshold = (0UL - bound) % bound;
        ulong r;
        do
        {
            r = NextUInt64();
        }
        while (r < threshold);

        return r % bound;
    }

    /// <summary>SplitMix64 (Steele, Lea and Flood, 2014); also the data loader's portable shuffle generator.</summary>
    internal static ulong SplitMix(ref ulong s)
    {
        s += 0x9E3779B97F4A7C15UL;
        var z = s;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
