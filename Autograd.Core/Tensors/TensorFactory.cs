using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Autograd;

/// <summary>
/// Factories that infer the element type where they can (<c>Tensor.FromArray(new[] { 1f, 2f }, [2])</c>),
/// the default random generator, and grad mode.
/// </summary>
public static partial class Tensor
{
    private static readonly Lock s_generatorLock = new();
    private static Generator s_default = new(0);

    /// <summary>The generator used by <see cref="Randn{T}"/> and <see cref="Rand{T}"/> when none is given.</summary>
    public static Generator DefaultGenerator
    {
        get
        {
            lock (s_generatorLock)
            {
                return s_default;
            }
        }
    }

    /// <summary>Reseeds the default generator (PyTorch's manual_seed).</summary>
    public static void ManualSeed(ulong seed)
    {
        lock (s_generatorLock)
        {
            s_default = new Generator(seed);
        }
    }

    /// <summary>
    /// The most threads one op may use (PyTorch's get_num_threads): <c>AUTOGRAD_NUM_THREADS</c> when set,
    /// else the processor count, until <see cref="SetNumThreads"/> changes it.
    /// </summary>
    public static int NumThreads => Kernels.Threads.Max;

    /// <summary>
    /// Sets the most threads one op may use (PyTorch's set_num_threads). GEMM, Conv2d, MaxPool2d and the
    /// elementwise and reduction kernels obey it; 1 keeps every op on the calling thread.
    /// </summary>
    public static void SetNumThreads(int threads) => Kernels.Threads.Set(threads);

    /// <summary>Stops recording until the returned scope is disposed: <c>using (Tensor.NoGrad()) { ... }</c>.</summary>
    public static GradModeScope NoGrad() => new(false);

    /// <summary>Turns recording back on inside a <see cref="NoGrad"/> block.</summary>
    public static GradModeScope EnableGrad() => new(true);

    /// <summary>
    /// Anomaly mode until the returned scope is disposed (PyTorch's <c>torch.autograd.detect_anomaly</c>):
    /// <c>using (Tensor.DetectAnomaly()) { ... }</c>. Every recorded op's result and every gradient a VJP
    /// returns is checked for NaN and ±∞; the first one throws <see cref="AnomalyException"/> naming the op,
    /// its call site, forward or backward, and whether an input (or the incoming gradient) already carried
    /// the value or the op produced it. Per thread or async flow, like <see cref="NoGrad"/>; scopes nest
    /// (<paramref name="enabled"/>: false turns it off inside an outer scope). Off by default.
    /// </summary>
    public static AnomalyScope DetectAnomaly(bool enabled = true) => Anomaly.Enter(enabled);

    /// <summary>Whether anomaly mode is on in this thread or async flow (see <see cref="DetectAnomaly"/>).</summary>
    public static bool IsAnomalyDetectionEnabled => Anomaly.IsEnabled;

    /// <summary>A tensor holding a copy of <paramref name="data"/> (row-major) in the given shape.</summary>
    public static Tensor<T> FromArray<T>(T[] data, int[] shape, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        var n = ShapeMath.Numel(shape, "FromArray");
        if (n != data.Length)
        {
            throw new ArgumentException($"FromArray: shape {ShapeMath.Format(shape)} needs {n} elements but data has {data.Length}.", nameof(data));
        }

        var result = Tensor<T>.Uninitialized((int[])shape.Clone());
        data.CopyTo(result.Data);
        result.RequiresGrad = requiresGrad;
        return result;
    }

    /// <summary>A one-dimensional tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor<T> FromArray<T>(T[] data, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(data);
        return FromArray(data, [data.Length], requiresGrad);
    }

    /// <summary>A tensor holding a copy of a rectangular array (<c>new float[,] { { 1, 2 }, { 3, 4 } }</c> gives shape [2, 2]).</summary>
    public static Tensor<T> FromArray<T>(T[,] data, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => FromRectangular<T>(data, requiresGrad);

    /// <summary>A tensor holding a copy of a rank-3 rectangular array, in its shape.</summary>
    public static Tensor<T> FromArray<T>(T[,,] data, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => FromRectangular<T>(data, requiresGrad);

    /// <summary>A tensor holding a copy of a rank-4 rectangular array, in its shape.</summary>
    public static Tensor<T> FromArray<T>(T[,,,] data, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => FromRectangular<T>(data, requiresGrad);

    private static Tensor<T> FromRectangular<T>(Array data, bool requiresGrad)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(data);
        var shape = Enumerable.Range(0, data.Rank).Select(data.GetLength).ToArray();

        // A rectangular array is one row-major block of elements (last index fastest), as a tensor's.
        var elements = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<byte, T>(ref MemoryMarshal.GetArrayDataReference(data)), data.Length);
        var result = Tensor<T>.Uninitialized(shape);
        elements.CopyTo(result.Data);
        result.RequiresGrad = requiresGrad;
        return result;
    }

    /// <summary>
    /// A tensor of the given shape whose elements are not initialised (PyTorch's <c>torch.empty</c>): fill it
    /// before reading; it may hold any values, those of a recycled buffer included.
    /// </summary>
    public static Tensor<T> Empty<T>(params int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(shape);
        ShapeMath.Numel(shape, "Empty");
        return Tensor<T>.Uninitialized((int[])shape.Clone());
    }

    /// <summary>
    /// The <paramref name="n"/> × <paramref name="m"/> identity (m defaults to n): ones on the diagonal,
    /// zeros elsewhere, as <c>torch.eye</c>.
    /// </summary>
    public static Tensor<T> Eye<T>(int n, int? m = null, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var cols = m ?? n;
        if (n < 0 || cols < 0)
        {
            throw new ArgumentException($"Eye: n {n} and m {cols} must be non-negative.", n < 0 ? nameof(n) : nameof(m));
        }

        var result = Tensor<T>.ZeroFilled([n, cols]);
        var data = result.Data;
        for (var i = 0; i < Math.Min(n, cols); i++)
        {
            data[i * cols + i] = T.One;
        }

        result.RequiresGrad = requiresGrad;
        return result;
    }

    /// <summary>
    /// <paramref name="steps"/> evenly spaced values from <paramref name="start"/> to <paramref name="end"/>, both
    /// included (<c>torch.linspace</c>). As PyTorch, the first half counts up from start and the second half
    /// down from end, so both ends are exact and the spacing is symmetric.
    /// </summary>
    public static Tensor<T> Linspace<T>(T start, T end, int steps, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (steps < 0 || !T.IsFinite(start) || !T.IsFinite(end))
        {
            throw new ArgumentException($"Linspace: start {start} and end {end} must be finite and steps {steps} non-negative.", steps < 0 ? nameof(steps) : nameof(start));
        }

        var result = Tensor<T>.Uninitialized([steps]);
        var data = result.Data;
        var step = steps > 1 ? (end - start) / T.CreateChecked(steps - 1) : T.Zero;
        var half = steps / 2;
        for (var i = 0; i < steps; i++)
        {
            data[i] = i < half ? start + step * T.CreateChecked(i) : end - step * T.CreateChecked(steps - 1 - i);
        }

        result.RequiresGrad = requiresGrad;
        return result;
    }

    /// <summary>A rank-0 tensor holding one value.</summary>
    public static Tensor<T> Scalar<T>(T value, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => new(new Storage<T>(value), []) { RequiresGrad = requiresGrad };

    public static Tensor<T> Zeros<T>(params int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Full(shape, T.Zero, false, "Zeros");

    public static Tensor<T> Ones<T>(params int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Full(shape, T.One, false, "Ones");

    /// <summary>A tensor of the given shape filled with <paramref name="value"/>.</summary>
    public static Tensor<T> Full<T>(int[] shape, T value, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Full(shape, value, requiresGrad, "Full");

    private static Tensor<T> Full<T>(int[] shape, T value, bool requiresGrad, string op)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(shape);
        var n = ShapeMath.Numel(shape, op);
        var result = Tensor<T>.Uninitialized((int[])shape.Clone());
        result.Data.Fill(value);
        result.RequiresGrad = requiresGrad;
        return result;
    }

    /// <summary>Zeros with the shape of <paramref name="like"/>.</summary>
    public static Tensor<T> ZerosLike<T>(Tensor<T> like)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Full(like.ShapeArray, T.Zero);

    /// <summary>Ones with the shape of <paramref name="like"/>.</summary>
    public static Tensor<T> OnesLike<T>(Tensor<T> like)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Full(like.ShapeArray, T.One);

    /// <summary>Standard normal samples.</summary>
    public static Tensor<T> Randn<T>(int[] shape, Generator? generator = null, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Random(shape, generator, requiresGrad, "Randn", static g => T.CreateChecked(g.NextNormal()));

    /// <summary>Standard normal samples in the shape of <paramref name="like"/> (<c>torch.randn_like</c>).</summary>
    public static Tensor<T> RandnLike<T>(Tensor<T> like, Generator? generator = null, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(like);
        return Randn<T>(like.ShapeArray, generator, requiresGrad);
    }

    /// <summary>Uniform samples in [0, 1) in the shape of <paramref name="like"/> (<c>torch.rand_like</c>).</summary>
    public static Tensor<T> RandLike<T>(Tensor<T> like, Generator? generator = null, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(like);
        return Rand<T>(like.ShapeArray, generator, requiresGrad);
    }

    /// <summary>
    /// Uniform integers in [<paramref name="low"/>, <paramref name="high"/>) (<c>torch.randint</c>), as an
    /// <see cref="IndexTensor"/> (PyTorch's int64); <c>.Float()</c> makes a float tensor of them.
    /// </summary>
    public static IndexTensor Randint(long low, long high, int[] shape, Generator? generator = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (high <= low)
        {
            throw new ArgumentException($"Randint: high {high} must be greater than low {low} (shape {ShapeMath.Format(shape)}).", nameof(high));
        }

        var data = new long[ShapeMath.Numel(shape, "Randint")];
        var bound = (ulong)(high - low);
        var g = generator ?? DefaultGenerator;
        lock (g)
        {
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = low + (long)g.NextBelow(bound);
            }
        }

        return new IndexTensor(data, (int[])shape.Clone());
    }

    /// <summary>Uniform integers in [0, <paramref name="high"/>) (<c>torch.randint(high, size)</c>).</summary>
    public static IndexTensor Randint(long high, int[] shape, Generator? generator = null) => Randint(0, high, shape, generator);

    /// <summary>Uniform samples in [0, 1).</summary>
    public static Tensor<T> Rand<T>(int[] shape, Generator? generator = null, bool requiresGrad = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Random(shape, generator, requiresGrad, "Rand", static g => T.CreateChecked(g.NextDouble()));

    /// <summary>0, 1, ..., end-1.</summary>
    public static Tensor<T> Arange<T>(T end)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Arange(T.Zero, end, T.One);

    /// <summary>start, start+step, ... up to but excluding end.</summary>
    public static Tensor<T> Arange<T>(T start, T end, T step)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (step == T.Zero || !T.IsFinite(step) || !T.IsFinite(start) || !T.IsFinite(end))
        {
            throw new ArgumentException($"Arange: start {start}, end {end} and step {step} must be finite and step non-zero.", nameof(step));
        }

        // As torch.arange: a step that points away from end is an error, not an empty range (start == end
        // is the empty range).
        if (end != start && (end > start) != (step > T.Zero))
        {
            throw new ArgumentException($"Arange: step {step} points away from end {end} (start {start}); use a {(step > T.Zero ? "negative" : "positive")} step.", nameof(step));
        }

        var count = double.Ceiling(double.CreateChecked((end - start) / step));
        if (count > int.MaxValue)
        {
            throw new ArgumentException($"Arange: start {start}, end {end}, step {step} gives more than {int.MaxValue} elements.", nameof(end));
        }

        var n = (int)Math.Max(count, 0);
        var result = Tensor<T>.Uninitialized([n]);
        var data = result.Data;
        for (var i = 0; i < n; i++)
        {
            data[i] = start + T.CreateChecked(i) * step;
        }

        return result;
    }

    private static Tensor<T> Random<T>(int[] shape, Generator? generator, bool requiresGrad, string op, Func<Generator, T> sample)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(shape);
        ShapeMath.Numel(shape, op);
        var result = Tensor<T>.Uninitialized((int[])shape.Clone());
        var data = result.Data;
        var g = generator ?? DefaultGenerator;
        lock (g)
        {
            for (var i = 0; i < data.Length; i++)
            {
                data[i] = sample(g);
            }
        }

        result.RequiresGrad = requiresGrad;
        return result;
    }
}
