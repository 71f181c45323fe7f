using System.Globalization;
using Autograd;

namespace Autograd.Testing;

/// <summary>
/// One generated tensor input: the shape the op sees, how it is laid out (<see cref="ViewKind"/>) and
/// where its values come from. Values are a pure function of the seed, the range and the rounding, so a
/// sample is replayed from its description alone.
/// </summary>
/// <param name="Shape">The shape the op sees (the view's shape, not the leaf's).</param>
/// <param name="View">The requested layout; see <see cref="EffectiveView"/>.</param>
/// <param name="Seed">Seed of the values.</param>
/// <param name="Lo">Values are uniform in [Lo, Hi) ...</param>
/// <param name="Hi">... </param>
/// <param name="Decimals">... then rounded to this many decimals (shrinking sets it, for readable literals).</param>
public sealed record TensorSample(int[] Shape, ViewKind View, ulong Seed, double Lo = -1, double Hi = 1, int? Decimals = null)
{
    /// <summary>
    /// The layout actually used: a view that does not apply to the shape (a transpose of a vector, an
    /// expansion of a first dimension of 1) falls back to <see cref="ViewKind.Contiguous"/>.
    /// </summary>
    public ViewKind EffectiveView => Layout.Effective(Shape, View);

    /// <summary>The shape of the leaf behind the view (larger for a slice, 1 in front for an expansion).</summary>
    public int[] LeafShape => Layout.LeafShape(Shape, EffectiveView);

    /// <summary>The leaf's values, row-major.</summary>
    public double[] LeafValues()
    {
        var n = ShapeMath.Numel(LeafShape, "TensorSample");
        var g = new Generator(Seed);
        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            var v = Lo + (Hi - Lo) * g.NextDouble();
            // + 0.0 turns the -0 that rounding a small negative value gives into 0, for plain literals.
            values[i] = Decimals is { } d ? Math.Round(v, d, MidpointRounding.AwayFromZero) + 0.0 : v;
        }

        return values;
    }

    /// <summary>A fresh leaf (requires grad) holding <see cref="LeafValues"/>.</summary>
    public Tensor<double> MakeLeaf() => Tensor.FromArray(LeafValues(), LeafShape, requiresGrad: true);

    /// <summary>The view of <paramref name="leaf"/> that the op sees: a tensor of <see cref="Shape"/>.</summary>
    public Tensor<double> ApplyView(Tensor<double> leaf) => Layout.Apply(leaf, Shape, EffectiveView);

    /// <summary>The C# expression of <see cref="ApplyView"/> applied to <paramref name="leaf"/>.</summary>
    public string ViewCSharp(string leaf) => Layout.CSharp(leaf, Shape, EffectiveView);

    public override string ToString()
    {
        var s = ShapeMath.Format(Shape);
        return EffectiveView == ViewKind.Contiguous ? s : $"{s} {EffectiveView}";
    }
}

/// <summary>The leaf shape, the view and its C# text for each <see cref="ViewKind"/>.</summary>
internal static class Layout
{
    public static ViewKind Effective(int[] shape, ViewKind kind) => kind switch
    {
        ViewKind.Transposed when shape.Length >= 2 => kind,
        ViewKind.Sliced when shape.Length >= 1 => kind,
        ViewKind.Expanded when shape.Length >= 1 && shape[0] > 1 => kind,
        _ => ViewKind.Contiguous,
    };

    public static int[] LeafShape(int[] shape, ViewKind kind)
    {
        var leaf = (int[])shape.Clone();
        switch (Effective(shape, kind))
        {
            case ViewKind.Transposed:
                (leaf[^1], leaf[^2]) = (leaf[^2], leaf[^1]);
                break;
            case ViewKind.Sliced:
                leaf[^1] = 2 * shape[^1] + 1;
                break;
            case ViewKind.Expanded:
                leaf[0] = 1;
                break;
        }

        return leaf;
    }

    public static Tensor<double> Apply(Tensor<double> leaf, int[] shape, ViewKind kind) => Effective(shape, kind) switch
    {
        ViewKind.Transposed => leaf.Transpose(-1, -2),
        ViewKind.Sliced => leaf.Slice(-1, 1, 2 * shape[^1] + 1, 2),
        ViewKind.Expanded => leaf.Expand(shape),
        _ => leaf,
    };

    public static string CSharp(string leaf, int[] shape, ViewKind kind) => Effective(shape, kind) switch
    {
        ViewKind.Transposed => $"{leaf}.Transpose(-1, -2)",
        ViewKind.Sliced => $"{leaf}.Slice(-1, 1, {(2 * shape[^1] + 1).ToString(CultureInfo.InvariantCulture)}, 2)",
        ViewKind.Expanded => $"{leaf}.Expand({string.Join(", ", shape)})",
        _ => leaf,
    };
}
