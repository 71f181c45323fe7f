using System.Buffers.Binary;

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

    /// <summary>Bytes of <see cref="GetState"/>: the four xoshiro256** words, a flag and the spare normal.</summary>
    public const int StateSize = 4 * 8 + 1 + 8;

    /// <summary>
    /// The generator's whole state (PyTorch's <c>get_state()</c>): the four xoshiro256** words and the spare normal of
    /// Box-Muller, little-endian, <see cref="StateSize"/> bytes. <see cref="SetState"/> of it continues the sequence
    /// exactly where it was, which a checkpoint needs for a bit-exact resume.
    /// </summary>
    public byte[] GetState()
    {
        var state = new byte[StateSize];
        var span = state.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(span, _s0);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], _s1);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], _s2);
        BinaryPrimitives.WriteUInt64LittleEndian(span[24..], _s3);
        state[32] = _spareNormal.HasValue ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteDoubleLittleEndian(span[33..], _spareNormal ?? 0);
        return state;
    }

    /// <summary>Restores a state from <see cref="GetState"/> (PyTorch's <c>set_state</c>).</summary>
    public void SetState(byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var span = state.AsSpan();
        if (state.Length != StateSize || state[32] > 1)
        {
            throw new ArgumentException($"Generator.SetState: expected {StateSize} bytes from GetState (flag byte 0 or 1), got {state.Length}.", nameof(state));
        }

        var s0 = BinaryPrimitives.ReadUInt64LittleEndian(span);
        var s1 = BinaryPrimitives.ReadUInt64LittleEndian(span[8..]);
        var s2 = BinaryPrimitives.ReadUInt64LittleEndian(span[16..]);
        var s3 = BinaryPrimitives.ReadUInt64LittleEndian(span[24..]);
        if ((s0 | s1 | s2 | s3) == 0)
        {
            throw new ArgumentException("Generator.SetState: the all-zero state is not a state xoshiro256** can reach (it would yield zeros forever).", nameof(state));
        }

        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
        _spareNormal = state[32] == 1 ? BinaryPrimitives.ReadDoubleLittleEndian(span[33..]) : null;
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
