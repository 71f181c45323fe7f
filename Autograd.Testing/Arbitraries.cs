using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Testing;

/// <summary>
/// FsCheck <see cref="Arbitrary{T}"/>s for gradient properties: shapes, tensors and valid parameter sets
/// for Conv2d, MaxPool2d and MatMul. Every one shrinks: dimensions towards 1 (and fewer of them), kernels
/// towards 1×1, strides and dilations towards 1, padding towards 0, views towards contiguous and values
/// towards integers or one decimal.
/// </summary>
public static class Arbitraries
{
    private static readonly ViewKind[] s_allViews = Enum.GetValues<ViewKind>();

    /// <summary>Shapes of rank <paramref name="minRank"/>..<paramref name="maxRank"/> with sizes 1..<paramref name="maxDim"/>.</summary>
    public static Arbitrary<int[]> Shape(int minRank = 0, int maxRank = 3, int maxDim = 4)
    {
        Require(0 <= minRank && minRank <= maxRank && maxDim >= 1, $"Shape: need 0 ≤ minRank ≤ maxRank and maxDim ≥ 1 (got {minRank}, {maxRank}, {maxDim}).");
        return Arb.From(ShapeGen(minRank, maxRank, maxDim), s => ShrinkShape(s, minRank));
    }

    /// <summary>
    /// One tensor of a generated shape (see <see cref="Shape"/>), values uniform in [lo, hi), laid out as one
    /// of <paramref name="views"/> (default: all kinds).
    /// </summary>
    public static Arbitrary<TensorCase> Tensor(int minRank = 0, int maxRank = 3, int maxDim = 4, double lo = -1, double hi = 1, ViewKind[]? views = null)
    {
        Require(0 <= minRank && minRank <= maxRank && maxDim >= 1, $"Tensor: need 0 ≤ minRank ≤ maxRank and maxDim ≥ 1 (got {minRank}, {maxRank}, {maxDim}).");
        RequireRange(lo, hi, "Tensor");
        var gen =
            from shape in ShapeGen(minRank, maxRank, maxDim)
            from sampling in Sampling(1, views)
            select new TensorCase(shape) { Views = sampling.Views, Seed = sampling.Seed, Lo = lo, Hi = hi };
        return Arb.From(gen, c => Progress(c, ShrinkShape(c.Shape, minRank).Select(s => c with { Shape = s }).Concat(GradCase.ShrinkSampling(c))));
    }

    /// <summary>One tensor of a fixed shape; only the values and the view vary (and shrink).</summary>
    public static Arbitrary<TensorCase> Tensor(int[] shape, double lo = -1, double hi = 1, ViewKind[]? views = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        RequireRange(lo, hi, "Tensor");
        var fixedShape = (int[])shape.Clone();
        var gen = Sampling(1, views).Select(s => new TensorCase(fixedShape) { Views = s.Views, Seed = s.Seed, Lo = lo, Hi = hi });
        return Arb.From(gen, c => Progress(c, GradCase.ShrinkSampling(c)));
    }

    /// <summary>
    /// Valid Conv2d cases: groups 1..<paramref name="maxGroups"/>, channels and filters a multiple of
    /// groups (up to <paramref name="maxChannelsPerGroup"/> per group), kernels, stride, padding and dilation
    /// within their limits, spatial sizes large enough for an output of at least 1. Bias is present,
    /// absent or either (null; shrinks towards absent).
    /// </summary>
    public static Arbitrary<Conv2dCase> Conv2d(
        int maxBatch = 2, int maxGroups = 2, int maxChannelsPerGroup = 2, int maxSize = 5, int maxKernel = 3,
        int maxStride = 2, int maxPadding = 1, int maxDilation = 2, bool? bias = null,
        double lo = -1, double hi = 1, ViewKind[]? views = null)
    {
        Require(maxBatch >= 1 && maxGroups >= 1 && maxChannelsPerGroup >= 1 && maxSize >= 1 && maxKernel >= 1 && maxStride >= 1 && maxPadding >= 0 && maxDilation >= 1,
            "Conv2d: every limit must be at least 1 (padding at least 0).");
        RequireRange(lo, hi, "Conv2d");
        var gen =
            from n in Gen.Choose(1, maxBatch)
            from groups in Gen.Choose(1, maxGroups)
            from cg in Gen.Choose(1, maxChannelsPerGroup)
            from fg in Gen.Choose(1, maxChannelsPerGroup)
            from kh in Gen.Choose(1, maxKernel)
            from kw in Gen.Choose(1, maxKernel)
            from stride in Gen.Choose(1, maxStride)
            from padding in Gen.Choose(0, maxPadding)
            from dilation in Gen.Choose(1, maxDilation)
            from h in SizeFor(kh, padding, dilation, maxSize)
            from w in SizeFor(kw, padding, dilation, maxSize)
            from withBias in bias is { } b ? Gen.Constant(b) : Gen.Elements(true, false)
            from sampling in Sampling(3, views)
            select new Conv2dCase(n, groups * cg, h, w, groups * fg, groups, kh, kw, stride, padding, dilation, withBias)
            {
                Views = sampling.Views,
                Seed = sampling.Seed,
                Lo = lo,
                Hi = hi,
            };
        return Arb.From(gen.Where(c => c.IsValid), c => Progress(c, c.Shrink().Where(s => bias is null || s.Bias == c.Bias)));
    }

    /// <summary>
    /// Valid MaxPool2d cases: kernels up to <paramref name="maxKernel"/>, padding at most half the kernel,
    /// stride and dilation within their limits, ceil mode on, off or either (null), spatial sizes with an
    /// output of at least 1 and no window of padding only.
    /// </summary>
    public static Arbitrary<MaxPool2dCase> MaxPool2d(
        int maxBatch = 2, int maxChannels = 2, int maxSize = 6, int maxKernel = 3, int maxStride = 3,
        int maxPadding = 1, int maxDilation = 2, bool? ceilMode = null,
        double lo = -1, double hi = 1, ViewKind[]? views = null)
    {
        Require(maxBatch >= 1 && maxChannels >= 1 && maxSize >= 1 && maxKernel >= 1 && maxStride >= 1 && maxPadding >= 0 && maxDilation >= 1,
            "MaxPool2d: every limit must be at least 1 (padding at least 0).");
        RequireRange(lo, hi, "MaxPool2d");
        var gen =
            from n in Gen.Choose(1, maxBatch)
            from c in Gen.Choose(1, maxChannels)
            from kh in Gen.Choose(1, maxKernel)
            from kw in Gen.Choose(1, maxKernel)
            from stride in Gen.Choose(1, maxStride)
            from padding in Gen.Choose(0, Math.Min(maxPadding, Math.Min(kh, kw) / 2))
            from dilation in Gen.Choose(1, maxDilation)
            from h in SizeFor(kh, padding, dilation, maxSize)
            from w in SizeFor(kw, padding, dilation, maxSize)
            from ceil in ceilMode is { } m ? Gen.Constant(m) : Gen.Elements(false, true)
            from sampling in Sampling(1, views)
            select new MaxPool2dCase(n, c, h, w, kh, kw, stride, padding, dilation, ceil)
            {
                Views = sampling.Views,
                Seed = sampling.Seed,
                Lo = lo,
                Hi = hi,
            };
        return Arb.From(gen.Where(c => c.IsValid), c => Progress(c, c.Shrink().Where(s => ceilMode is null || s.CeilMode == c.CeilMode)));
    }

    /// <summary>
    /// Operand shapes valid under torch.matmul: 1-D operands (when <paramref name="vectors"/>), matrices,
    /// and batches of up to <paramref name="maxBatchRank"/> dimensions that broadcast (some sizes are 1 on
    /// one side, some batch dimensions exist on one side only).
    /// </summary>
    public static Arbitrary<MatMulCase> MatMul(
        int maxBatchRank = 2, int maxBatch = 3, int maxDim = 4, bool vectors = true,
        double lo = -1, double hi = 1, ViewKind[]? views = null)
    {
        Require(maxBatchRank >= 0 && maxBatch >= 1 && maxDim >= 1, "MatMul: need maxBatchRank ≥ 0 and sizes ≥ 1.");
        RequireRange(lo, hi, "MatMul");
        var vector = vectors ? Gen.Frequency((1, Gen.Constant(true)), (3, Gen.Constant(false))) : Gen.Constant(false);
        var gen =
            from aVector in vector
            from bVector in vector
            from aRank in aVector ? Gen.Constant(0) : Gen.Choose(0, maxBatchRank)
            from bRank in bVector ? Gen.Constant(0) : Gen.Choose(0, maxBatchRank)
            from batch in Gen.ArrayOf(Gen.Choose(1, maxBatch), Math.Max(aRank, bRank))
            from aOnes in Gen.ArrayOf(Gen.Frequency((1, Gen.Constant(true)), (3, Gen.Constant(false))), aRank)
            from bOnes in Gen.ArrayOf(Gen.Frequency((1, Gen.Constant(true)), (3, Gen.Constant(false))), bRank)
            from n in aVector ? Gen.Constant(1) : Gen.Choose(1, maxDim)
            from k in Gen.Choose(1, maxDim)
            from m in bVector ? Gen.Constant(1) : Gen.Choose(1, maxDim)
            from sampling in Sampling(2, views)
            select new MatMulCase(
                BatchOf(batch, aOnes), BatchOf(batch, bOnes), n, k, m, aVector, bVector)
            {
                Views = sampling.Views,
                Seed = sampling.Seed,
                Lo = lo,
                Hi = hi,
            };
        return Arb.From(gen, c => Progress(c, c.Shrink()));
    }

    /// <summary>
    /// The same cases with integer values in [−<paramref name="levels"/>, <paramref name="levels"/>], so that
    /// ties are the rule, not the exception: a max or a pooling window over a few elements almost always
    /// has two equal maxima. For structural properties of a subgradient rule (the whole gradient to the
    /// first maximum); a finite-difference check would discard such samples as not differentiable.
    /// </summary>
    public static Arbitrary<TCase> Ties<TCase>(Arbitrary<TCase> cases, int levels = 2)
        where TCase : GradCase
    {
        ArgumentNullException.ThrowIfNull(cases);
        Require(levels >= 1, $"Ties: need at least one level (got {levels}).");

        // Rounding uniform values in (−levels − ½, levels + ½) gives each integer the same chance.
        var (lo, hi) = (-levels - 0.49, levels + 0.49);
        return Arb.From(
            cases.Generator.Select(c => (TCase)(c with { Lo = lo, Hi = hi, Decimals = 0 })),
            c => cases.Shrinker(c).Select(s => (TCase)(s with { Decimals = 0 })).Where(s => !s.Equals(c)));
    }

    // ---- Building blocks ----

    /// <summary>
    /// Drops a candidate equal to the case itself: FsCheck would accept it (it fails just the same) and
    /// shrink forever.
    /// </summary>
    internal static IEnumerable<T> Progress<T>(T current, IEnumerable<T> candidates)
        where T : GradCase
        => candidates.Where(c => !c.Equals(current));

    private static Gen<int[]> ShapeGen(int minRank, int maxRank, int maxDim) =>
        from rank in Gen.Choose(minRank, maxRank)
        from dims in Gen.ArrayOf(Gen.Choose(1, maxDim), rank)
        select dims;

    /// <summary>Fewer dimensions (any one dropped), then each dimension towards 1.</summary>
    internal static IEnumerable<int[]> ShrinkShape(int[] shape, int minRank)
    {
        if (shape.Length > minRank)
        {
            for (var i = 0; i < shape.Length; i++)
            {
                yield return [.. shape[..i], .. shape[(i + 1)..]];
            }
        }

        for (var i = 0; i < shape.Length; i++)
        {
            foreach (var smaller in GradCase.Towards(shape[i], 1))
            {
                var s = (int[])shape.Clone();
                s[i] = smaller;
                yield return s;
            }
        }
    }

    /// <summary>A spatial size from the smallest that gives one output (dilated kernel minus both paddings) up to max.</summary>
    private static Gen<int> SizeFor(int kernel, int padding, int dilation, int max)
    {
        var min = Math.Max(1, (dilation * (kernel - 1)) + 1 - (2 * padding));
        return Gen.Choose(min, Math.Max(min, max));
    }

    /// <summary>The last <c>ones.Length</c> batch sizes, some replaced by 1 (broadcast against the other operand).</summary>
    private static int[] BatchOf(int[] batch, bool[] ones)
    {
        var own = batch[(batch.Length - ones.Length)..];
        for (var i = 0; i < own.Length; i++)
        {
            if (ones[i])
            {
                own[i] = 1;
            }
        }

        return own;
    }

    private static Gen<(ImmutableArray<ViewKind> Views, ulong Seed)> Sampling(int inputs, ViewKind[]? views)
    {
        var kinds = views is { Length: > 0 } ? views : s_allViews;
        return
            from vs in Gen.ArrayOf(Gen.Elements(kinds), inputs)
            from seed in Gen.Choose(0, int.MaxValue)
            select (vs.ToImmutableArray(), (ulong)seed);
    }

    private static void Require(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException("Arbitraries." + message);
        }
    }

    private static void RequireRange(double lo, double hi, string op) =>
        Require(lo < hi && double.IsFinite(lo) && double.IsFinite(hi), $"{op}: need a finite range lo < hi (got [{lo}, {hi})).");
}
