using System.Collections.Immutable;
using Autograd;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Testing;

/// <summary>How a generated input reaches the op: as itself or as a non-contiguous view of a larger leaf.</summary>
public enum ViewKind
{
    /// <summary>The leaf itself, row-major.</summary>
    Contiguous,

    /// <summary>The last two dimensions of a leaf stored the other way round (rank ≥ 2; otherwise contiguous).</summary>
    Transposed,

    /// <summary>Every second element of the last dimension of a wider leaf, starting at 1 (offset and stride 2).</summary>
    Sliced,

    /// <summary>A leaf whose first dimension is 1, expanded with stride 0 (when that dimension is larger than 1).</summary>
    Expanded,
}

/// <summary>
/// One generated case: named integer parameters (sizes, kernel, stride, ...), a view kind per tensor
/// input and a seed for the values. Shrinking moves each parameter towards its minimum and each view
/// towards <see cref="ViewKind.Contiguous"/>; the seed stays, so a shrunk case has the same kind of values.
/// </summary>
public sealed record Case(ImmutableArray<string> Names, ImmutableArray<int> Values, ImmutableArray<ViewKind> Views, int Seed)
{
    /// <summary>The value of parameter <paramref name="name"/>.</summary>
    public int this[string name]
    {
        get
        {
            var i = Names.IndexOf(name);
            return i >= 0 ? Values[i] : throw new ArgumentException($"Case: no parameter '{name}' (have {string.Join(", ", Names)}).", nameof(name));
        }
    }

    /// <summary>The view kind of tensor input <paramref name="input"/>.</summary>
    public ViewKind View(int input) => Views[input];

    /// <summary>A fresh generator for this case's values.</summary>
    public Generator Generator() => new((ulong)Seed);

    /// <summary>This case as a C# expression: <c>new Case(["n", "k"], [1, 2], [ViewKind.Contiguous], 42)</c>.</summary>
    public string ToCSharp() =>
        $"new Case([{string.Join(", ", Names.Select(n => $"\"{n}\""))}], [{string.Join(", ", Values)}], {CSharp.Views(Views)}, {Seed})";

    public override string ToString() =>
        string.Join(", ", Names.Select((n, i) => $"{n}={Values[i]}"))
        + (Views.Length > 0 ? $", views=[{string.Join(", ", Views)}]" : "")
        + $", seed={Seed}";
}

/// <summary>
/// Describes the parameter space of a property: <c>new CaseSpec().Int("n", 1, 3).Int("k", 1, 4).Views(2).Where(c => ...)</c>.
/// </summary>
public sealed class CaseSpec
{
    private readonly List<(string Name, int Min, int Max)> _ints = [];
    private readonly List<Func<Case, bool>> _filters = [];
    private int _views;
    private ViewKind[] _viewKinds = Enum.GetValues<ViewKind>();

    /// <summary>An integer parameter drawn uniformly from min..max; shrinks towards min.</summary>
    public CaseSpec Int(string name, int min, int max)
    {
        if (min > max)
        {
            throw new ArgumentException($"CaseSpec.Int: '{name}' has min {min} > max {max}.", nameof(min));
        }

        _ints.Add((name, min, max));
        return this;
    }

    /// <summary>Gives <paramref name="count"/> tensor inputs a generated view kind (optionally from a subset).</summary>
    public CaseSpec Views(int count, params ViewKind[] kinds)
    {
        _views = count;
        if (kinds.Length > 0)
        {
            _viewKinds = kinds;
        }

        return this;
    }

    /// <summary>Keeps only cases for which <paramref name="valid"/> holds (applied when generating and shrinking).</summary>
    public CaseSpec Where(Func<Case, bool> valid)
    {
        _filters.Add(valid);
        return this;
    }

    private bool IsValid(Case c) => _filters.All(f => f(c));

    public Gen<Case> Generator()
    {
        var names = _ints.Select(p => p.Name).ToImmutableArray();
        var ints = _ints.ToArray();
        var kinds = _viewKinds;
        var gen =
            from values in Gen.CollectToArray(ints, p => Gen.Choose(p.Min, p.Max))
            from vs in Gen.CollectToArray(Enumerable.Range(0, _views), _ => Gen.Elements(kinds))
            from seed in Gen.Choose(0, int.MaxValue)
            select new Case(names, [.. values], [.. vs], seed);
        return gen.Where(IsValid);
    }

    /// <summary>Smaller cases: each parameter to its minimum, halfway there, or one less; each view to contiguous.</summary>
    public IEnumerable<Case> Shrink(Case c)
    {
        for (var i = 0; i < c.Values.Length; i++)
        {
            var min = _ints[i].Min;
            var v = c.Values[i];
            foreach (var smaller in new[] { min, min + (v - min) / 2, v - 1 }.Where(s => s >= min && s < v).Distinct())
            {
                var candidate = c with { Values = c.Values.SetItem(i, smaller) };
                if (IsValid(candidate))
                {
                    yield return candidate;
                }
            }
        }

        for (var i = 0; i < c.Views.Length; i++)
        {
            if (c.Views[i] != ViewKind.Contiguous)
            {
                var candidate = c with { Views = c.Views.SetItem(i, ViewKind.Contiguous) };
                if (IsValid(candidate))
                {
                    yield return candidate;
                }
            }
        }
    }

    public Arbitrary<Case> Arbitrary() => Arb.From(Generator(), Shrink);
}

/// <summary>Builds generated inputs: a leaf and the view of it that the op sees.</summary>
public static class Inputs
{
    /// <summary>
    /// A leaf (double, requires grad, uniform values in [lo, hi)) and a function that turns it into a
    /// tensor of <paramref name="shape"/> laid out as <paramref name="kind"/> says. Build the view inside
    /// the checked function so that finite differences perturb the leaf.
    /// </summary>
    public static (Tensor<double> Leaf, Func<Tensor<double>, Tensor<double>> View) Make(
        int[] shape, ViewKind kind, Generator generator, double lo = -1, double hi = 1)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var target = (int[])shape.Clone();
        var leafShape = Layout.LeafShape(target, kind);
        Func<Tensor<double>, Tensor<double>> view = t => Layout.Apply(t, target, kind);
        var n = ShapeMath.Numel(leafShape, "Inputs.Make");
        var data = new double[n];
        for (var i = 0; i < n; i++)
        {
            data[i] = lo + (hi - lo) * generator.NextDouble();
        }

        return (Tensor.FromArray(data, leafShape, requiresGrad: true), view);
    }
}
