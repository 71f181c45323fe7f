using System.Numerics;
using System.Runtime.InteropServices;
using Autograd;

namespace Autograd.Testing;

/// <summary>How a cotangent is laid out when it is handed to <c>Backward(gradOutput)</c>.</summary>
internal enum CotangentLayout
{
    /// <summary>A fresh row-major tensor at storage offset 0.</summary>
    Contiguous,

    /// <summary>Every second element of a larger buffer, from offset 1: offset and strides that are not the shape's.</summary>
    Strided,

    /// <summary>The last two dimensions stored the other way round, at offset 1 (rank ≥ 2, else <see cref="Strided"/>).</summary>
    Transposed,

    /// <summary>A stride-0 view along the first dimension larger than 1, at offset 1 (the cotangent must be constant along it).</summary>
    Expanded,
}

/// <summary>
/// The tape side of a check: f's output at the point (recorded on the tape, in float or double) and
/// backward passes through it with a given cotangent, in a given layout. Every pass also checks that it
/// left the caller's tensors alone.
/// </summary>
internal interface ITapeSide
{
    int[] Shape { get; }

    bool RequiresGrad { get; }

    /// <summary>
    /// One backward pass with cotangent <paramref name="u"/> (row-major) laid out as <paramref name="layout"/>:
    /// each checked input's gradient in double (zeros where none arrived), and a description of any
    /// caller-owned tensor the pass wrote into (null when none).
    /// </summary>
    (double[][] Grads, string? Modified) Vjp(double[] u, CotangentLayout layout);

    /// <summary>
    /// Two passes with the same cotangent without clearing <c>Grad</c> in between: the second must add its
    /// gradient to each leaf's <c>Grad</c> (twice the first, within <paramref name="tolerance"/> of it: several
    /// contributions to one leaf are added one by one, so rounding differs), and write into no other leaf's
    /// <c>Grad</c>. Null when it does.
    /// </summary>
    string? CheckAccumulation(double[] u, CotangentLayout layout, Func<double, double> tolerance);
}

/// <inheritdoc cref="ITapeSide"/>
internal sealed class TapeSide<T> : ITapeSide
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T> _y;
    private readonly Tensor<T>[] _inputs;
    private readonly int[] _checked;
    private readonly bool _checkShapes;

    public TapeSide(Tensor<T> y, Tensor<T>[] inputs, int[] checkedInputs, bool checkShapes)
    {
        _y = y;
        _inputs = inputs;
        _checked = checkedInputs;
        _checkShapes = checkShapes;
    }

    public int[] Shape => _y.Shape;

    public bool RequiresGrad => _y.RequiresGrad;

    public (double[][] Grads, string? Modified) Vjp(double[] u, CotangentLayout layout)
    {
        var (modified, grads) = Pass(u, layout);
        var result = new double[_checked.Length][];
        for (var c = 0; c < _checked.Length; c++)
        {
            result[c] = grads[c] is { } g ? ToDouble(g.ToArray()) : new double[_inputs[_checked[c]].Numel];
            _inputs[_checked[c]].Grad = null;
        }

        return (result, modified);
    }

    public string? CheckAccumulation(double[] u, CotangentLayout layout, Func<double, double> tolerance)
    {
        try
        {
            var (modified, first) = Pass(u, layout);
            if (modified is not null)
            {
                return modified;
            }

            var firstValues = first.Select(g => g?.ToArray()).ToArray();

            // The Grad buffers handed out by the first pass belong to the caller now: no two leaves may share one.
            for (var c = 0; c < first.Length; c++)
            {
                for (var d = 0; d < c; d++)
                {
                    if (first[c] is { } a && first[d] is { } b && a.SharesStorage(b))
                    {
                        return $"inputs {_checked[d]} and {_checked[c]} got one shared Grad buffer";
                    }
                }
            }

            // Second pass, Grad kept: gradients accumulate, as PyTorch's .grad does.
            var (modifiedAgain, second) = Pass(u, layout, clear: false);
            if (modifiedAgain is not null)
            {
                return modifiedAgain;
            }

            for (var c = 0; c < _checked.Length; c++)
            {
                var before = firstValues[c];
                var after = second[c]?.ToArray();
                if (before is null || after is null)
                {
                    continue;
                }

                for (var k = 0; k < before.Length; k++)
                {
                    var expected = double.CreateChecked(before[k]) * 2;
                    var actual = double.CreateChecked(after[k]);
                    if (!(Math.Abs(actual - expected) <= tolerance(expected)) && !(double.IsNaN(actual) && double.IsNaN(expected)))
                    {
                        return $"a second backward pass left Grad of input {_checked[c]} at {actual:G6} instead of twice the first pass, {expected:G6}, at {ShapeMath.Format(GradCheck.Unravel(k, _inputs[_checked[c]].Shape))}";
                    }
                }

                // The first pass's Grad tensor is either the one accumulated into, or untouched.
                if (!ReferenceEquals(second[c], first[c]) && first[c] is { } old && !BitEqual(old.ToArray(), before))
                {
                    return $"a second backward pass replaced Grad of input {_checked[c]} and also wrote into the old Grad tensor";
                }
            }

            return null;
        }
        finally
        {
            foreach (var i in _checked)
            {
                _inputs[i].Grad = null;
            }
        }
    }

    /// <summary>
    /// A backward pass (Grad cleared first unless <paramref name="clear"/> is false); returns the checked
    /// inputs' Grad tensors and whether the pass wrote into the cotangent's buffer or an input's storage.
    /// </summary>
    private (string? Modified, Tensor<T>?[] Grads) Pass(double[] u, CotangentLayout layout, bool clear = true)
    {
        if (clear)
        {
            foreach (var i in _checked)
            {
                _inputs[i].Grad = null;
            }
        }

        var g = Cotangents.Make<T>(u, _y.Shape, layout);
        var cotangentBefore = StorageCopy(g);
        var inputsBefore = _inputs.Select(StorageCopy).ToArray();
        var gradsBefore = _checked.Select(i => _inputs[i].Grad).ToArray();
        _y.Backward(g, retainGraph: true);

        string? modified = null;
        if (!StorageEquals(g, cotangentBefore))
        {
            modified = $"backward wrote into the gradOutput passed to it ({layout} layout)";
        }

        for (var i = 0; i < _inputs.Length && modified is null; i++)
        {
            if (!StorageEquals(_inputs[i], inputsBefore[i]))
            {
                modified = $"backward wrote into input {i} (shape {ShapeMath.Format(_inputs[i].Shape)})";
            }
        }

        var grads = new Tensor<T>?[_checked.Length];
        for (var c = 0; c < _checked.Length; c++)
        {
            var x = _inputs[_checked[c]];
            grads[c] = x.Grad;
            if (_checkShapes && x.Grad is { } gx && !gx.Shape.AsSpan().SequenceEqual(x.Shape))
            {
                // Tensor.Grad refuses this today; the check stays so the guarantee is tested, not assumed.
                throw new InvalidOperationException($"GradCheck: input {_checked[c]} has shape {ShapeMath.Format(x.Shape)} but got a gradient of shape {ShapeMath.Format(gx.Shape)}.");
            }

            // Another leaf's Grad from before this pass may change only by accumulating into itself.
            for (var d = 0; d < gradsBefore.Length && modified is null; d++)
            {
                if (d != c && gradsBefore[d] is { } other && x.Grad is { } now && now.SharesStorage(other))
                {
                    modified = $"backward made the Grad of input {_checked[c]} share its buffer with the Grad of input {_checked[d]}";
                }
            }
        }

        return (modified, grads);
    }

    private static bool BitEqual(ReadOnlySpan<T> a, ReadOnlySpan<T> b) =>
        MemoryMarshal.AsBytes(a).SequenceEqual(MemoryMarshal.AsBytes(b));

    /// <summary>Every element of <paramref name="x"/>'s storage (not only those its view reaches), to compare after a pass.</summary>
    private static T[] StorageCopy(Tensor<T> x)
    {
        using var xr = x.Read();
        return xr.Span.ToArray();
    }

    /// <summary>Whether <paramref name="x"/>'s storage still holds exactly <paramref name="before"/>, bit for bit.</summary>
    private static bool StorageEquals(Tensor<T> x, T[] before)
    {
        using var xr = x.Read();
        return BitEqual(xr.Span, before);
    }

    private static double[] ToDouble(T[] values)
    {
        var result = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            result[i] = double.CreateChecked(values[i]);
        }

        return result;
    }
}

/// <summary>Builds cotangents in the layouts of <see cref="CotangentLayout"/>.</summary>
internal static class Cotangents
{
    /// <summary>The layouts the Jacobian rows rotate through (an arbitrary row cannot be expanded).</summary>
    public static readonly CotangentLayout[] Rotation = [CotangentLayout.Contiguous, CotangentLayout.Strided, CotangentLayout.Transposed];

    /// <summary>
    /// <paramref name="u"/> (row-major values of <paramref name="shape"/>) as a tensor laid out as
    /// <paramref name="layout"/>. The storage elements the view does not address hold NaN, so a VJP
    /// that reads the buffer as if it were contiguous at offset 0 gets NaN.
    /// </summary>
    public static Tensor<T> Make<T>(double[] u, int[] shape, CotangentLayout layout)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        shape = (int[])shape.Clone();
        if (layout == CotangentLayout.Transposed && shape.Length < 2)
        {
            layout = CotangentLayout.Strided;
        }

        var expandDim = Array.FindIndex(shape, d => d > 1);
        if (layout == CotangentLayout.Expanded && expandDim < 0)
        {
            layout = CotangentLayout.Strided;
        }

        if (layout == CotangentLayout.Contiguous || u.Length == 0)
        {
            var data = new T[u.Length];
            for (var k = 0; k < u.Length; k++)
            {
                data[k] = T.CreateChecked(u[k]);
            }

            return new Tensor<T>(data, shape);
        }

        int[] strides;
        int length;
        switch (layout)
        {
            case CotangentLayout.Transposed:
            {
                int[] stored = [.. shape];
                (stored[^1], stored[^2]) = (stored[^2], stored[^1]);
                strides = ShapeMath.ContiguousStrides(stored);
                (strides[^1], strides[^2]) = (strides[^2], strides[^1]);
                length = u.Length;
                break;
            }

            case CotangentLayout.Expanded:
            {
                int[] stored = [.. shape];
                stored[expandDim] = 1;
                strides = ShapeMath.ContiguousStrides(stored);
                strides[expandDim] = 0;
                length = ShapeMath.Numel(stored);
                break;
            }

            default:
                strides = ShapeMath.ContiguousStrides(shape).Select(s => 2 * s).ToArray();
                length = 2 * u.Length;
                break;
        }

        const int offset = 1;
        var buffer = new T[offset + length + 1];
        buffer.AsSpan().Fill(T.NaN);
        var index = new int[shape.Length];
        for (var k = 0; k < u.Length; k++)
        {
            var at = offset;
            for (var d = 0; d < shape.Length; d++)
            {
                at += index[d] * strides[d];
            }

            buffer[at] = T.CreateChecked(u[k]);
            for (var d = shape.Length - 1; d >= 0 && ++index[d] == shape[d]; d--)
            {
                index[d] = 0;
            }
        }

        return new Tensor<T>(new Storage<T>(buffer), shape, strides, offset);
    }

    /// <summary>
    /// <paramref name="u"/> made constant along the dimension an expanded cotangent repeats (each element
    /// takes the value at index 0 of that dimension), or null when no dimension is larger than 1.
    /// </summary>
    public static double[]? ExpandableCopy(double[] u, int[] shape)
    {
        var dim = Array.FindIndex(shape, d => d > 1);
        if (dim < 0)
        {
            return null;
        }

        var inner = 1;
        for (var d = dim + 1; d < shape.Length; d++)
        {
            inner *= shape[d];
        }

        var result = new double[u.Length];
        for (var k = 0; k < u.Length; k++)
        {
            var outer = k / (inner * shape[dim]);
            result[k] = u[outer * inner * shape[dim] + k % inner];
        }

        return result;
    }
}
