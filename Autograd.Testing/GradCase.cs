using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Autograd;

namespace Autograd.Testing;

/// <summary>
/// A generated gradient case: the op's parameters (in a derived record) plus what every case shares —
/// a view kind per tensor input, a seed and a value range. The tensors are a pure function of the case,
/// so printing the case is enough to replay it.
/// </summary>
/// <remarks>
/// Shrinking, common to all cases: each view towards <see cref="ViewKind.Contiguous"/>, values towards
/// integers or one decimal (<see cref="Decimals"/>), the range towards [-1, 1]. Derived cases add their own
/// parameters (dimensions towards 1, kernels towards 1×1, strides and dilations towards 1, ...).
/// </remarks>
public abstract record GradCase
{
    /// <summary>Seed of the tensors' values; each input draws from its own stream.</summary>
    public ulong Seed { get; init; }

    /// <summary>How each tensor input is laid out; missing entries are contiguous.</summary>
    public ImmutableArray<ViewKind> Views { get; init; } = [];

    /// <summary>Values are uniform in [Lo, Hi).</summary>
    public double Lo { get; init; } = -1;

    public double Hi { get; init; } = 1;

    /// <summary>When set, values are rounded to this many decimals (shrinking sets it, for readable literals).</summary>
    public int? Decimals { get; init; }

    /// <summary>The shapes of the tensors the checked function receives, in order.</summary>
    public abstract IReadOnlyList<int[]> Shapes { get; }

    /// <summary>The tensor inputs, each a leaf and the view of it the function sees.</summary>
    public IReadOnlyList<TensorSample> Inputs
    {
        get
        {
            var shapes = Shapes;
            var samples = new TensorSample[shapes.Count];
            for (var i = 0; i < samples.Length; i++)
            {
                var view = i < Views.Length ? Views[i] : ViewKind.Contiguous;

                // Distinct, well-separated seeds per input; Generator's SplitMix seeding decorrelates them.
                var seed = Seed + (0x9E3779B97F4A7C15UL * (ulong)(i + 1));
                samples[i] = new TensorSample(shapes[i], view, seed, Lo, Hi, Decimals);
            }

            return samples;
        }
    }

    /// <summary>This case as a C# expression, e.g. <c>new Conv2dCase(N: 1, ...) { Seed = 7 }</c>.</summary>
    public virtual string ToCSharp()
    {
        var init = new List<string> { $"Seed = {Seed.ToString(CultureInfo.InvariantCulture)}" };
        if (Views.Any(v => v != ViewKind.Contiguous))
        {
            init.Add($"Views = {CSharp.Views(Views)}");
        }

        if (Lo != -1 || Hi != 1)
        {
            init.Add($"Lo = {CSharp.Double(Lo)}, Hi = {CSharp.Double(Hi)}");
        }

        if (Decimals is { } d)
        {
            init.Add($"Decimals = {d.ToString(CultureInfo.InvariantCulture)}");
        }

        return $"new {GetType().Name}({ParametersCSharp()}) {{ {string.Join(", ", init)} }}";
    }

    /// <summary>The positional parameters as C# named arguments: "N: 1, C: 2".</summary>
    protected abstract string ParametersCSharp();

    /// <summary>The parameters for a reader: "N=1, C=2".</summary>
    protected abstract string DescribeParameters();

    public sealed override string ToString()
    {
        var sb = new StringBuilder(GetType().Name).Append(" { ");
        var parameters = DescribeParameters();
        if (parameters.Length > 0)
        {
            sb.Append(parameters).Append("; ");
        }

        sb.Append("inputs ").AppendJoin(", ", Inputs.Select(i => i.ToString()));
        sb.Append("; seed ").Append(Seed.ToString(CultureInfo.InvariantCulture));
        if (Lo != -1 || Hi != 1)
        {
            sb.Append($"; values in [{CSharp.Double(Lo)}, {CSharp.Double(Hi)})");
        }

        if (Decimals is { } d)
        {
            sb.Append("; decimals ").Append(d.ToString(CultureInfo.InvariantCulture));
        }

        return sb.Append(" }").ToString();
    }

    /// <summary>Simpler samplings of the same case: contiguous views, rounded values, a narrower range.</summary>
    internal static IEnumerable<TCase> ShrinkSampling<TCase>(TCase c)
        where TCase : GradCase
    {
        for (var i = 0; i < c.Views.Length; i++)
        {
            if (c.Views[i] != ViewKind.Contiguous)
            {
                yield return (TCase)(c with { Views = c.Views.SetItem(i, ViewKind.Contiguous) });
            }
        }

        foreach (var simpler in ShrinkValues(c))
        {
            yield return simpler;
        }
    }

    /// <summary>Integers first (the most readable literals), else one or two decimals; a range wider than [-1, 1] narrows to it.</summary>
    internal static IEnumerable<TCase> ShrinkValues<TCase>(TCase c)
        where TCase : GradCase
    {
        if (c.Lo < -1 || c.Hi > 1)
        {
            var (lo, hi) = (Math.Max(c.Lo, -1), Math.Min(c.Hi, 1));
            if (lo < hi)
            {
                yield return (TCase)(c with { Lo = lo, Hi = hi });
            }
        }

        // Coarse rounding can make the failure vanish (two values that differed become equal), so finer
        // roundings follow as fallbacks.
        for (var d = 0; d <= 2 && d < (c.Decimals ?? int.MaxValue); d++)
        {
            yield return (TCase)(c with { Decimals = d });
        }
    }

    /// <summary>The case as the checked function receives it (C# expression and type name), for a reproduction.</summary>
    internal virtual (string Literal, string TypeName) FunctionArgument() => (ToCSharp(), GetType().Name);

    /// <summary>Candidates between <paramref name="min"/> and <paramref name="value"/>: the minimum, halfway, one less.</summary>
    internal static IEnumerable<int> Towards(int value, int min)
    {
        if (value <= min)
        {
            yield break;
        }

        yield return min;
        var half = min + ((value - min) / 2);
        if (half > min && half < value)
        {
            yield return half;
        }

        if (value - 1 > half)
        {
            yield return value - 1;
        }
    }

    internal static string Format(IEnumerable<int> values) => "[" + string.Join(", ", values) + "]";
}

/// <summary>
/// A <see cref="CaseSpec"/> case with tensor shapes computed from its parameters (see
/// <see cref="GradProperty.For(CaseSpec, Func{Case, int[][]}, Func{Case, Tensor{double}[], Tensor{double}}, GradCheckOptions?, string?)"/>):
/// the views and the seed are the case's own; the parameters shrink as the spec says.
/// </summary>
public sealed record SpecCase : GradCase
{
    private readonly Func<Case, int[][]> _shapes;

    public SpecCase(Case @case, Func<Case, int[][]> shapes)
    {
        ArgumentNullException.ThrowIfNull(@case);
        ArgumentNullException.ThrowIfNull(shapes);
        Case = @case;
        _shapes = shapes;
        Views = @case.Views;
        Seed = (ulong)@case.Seed;
    }

    public Case Case { get; }

    public override IReadOnlyList<int[]> Shapes => _shapes(Case);

    public override string ToCSharp() => Case.ToCSharp();

    internal override (string Literal, string TypeName) FunctionArgument() => (Case.ToCSharp(), nameof(Testing.Case));

    protected override string ParametersCSharp() => "";

    protected override string DescribeParameters() =>
        string.Join(", ", Case.Names.Select((n, i) => $"{n}={Case.Values[i]}"));

    internal IEnumerable<SpecCase> Shrink(CaseSpec spec) =>
        spec.Shrink(Case).Select(c => new SpecCase(c, _shapes) { Lo = Lo, Hi = Hi, Decimals = Decimals })
            .Concat(ShrinkValues(this));
}

/// <summary>One tensor of a generated shape (see <c>Arbitraries.Tensor</c>).</summary>
public sealed record TensorCase(int[] Shape) : GradCase
{
    public override IReadOnlyList<int[]> Shapes => [Shape];

    protected override string ParametersCSharp() => $"Shape: {CSharp.Shape(Shape)}";

    protected override string DescribeParameters() => "";
}

/// <summary>
/// Valid Conv2d parameters (see <see cref="Arbitraries.Conv2d"/>): input [N, C, H, W], weight
/// [F, C/Groups, KernelH, KernelW] and, with <see cref="Bias"/>, bias [F]; every output size is at least 1.
/// </summary>
public sealed record Conv2dCase(
    int N, int C, int H, int W, int F, int Groups, int KernelH, int KernelW, int Stride, int Padding, int Dilation, bool Bias)
    : GradCase
{
    public int OutputH => OutputSize(H, KernelH);

    public int OutputW => OutputSize(W, KernelW);

    public int[] InputShape => [N, C, H, W];

    public int[] WeightShape => [F, C / Math.Max(Groups, 1), KernelH, KernelW];

    public int[] OutputShape => [N, F, OutputH, OutputW];

    public override IReadOnlyList<int[]> Shapes => Bias ? [InputShape, WeightShape, [F]] : [InputShape, WeightShape];

    /// <summary>PyTorch's rule: ⌊(H + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1, when the numerator is not negative.</summary>
    private int OutputSize(int size, int kernel)
    {
        var span = size + (2 * Padding) - (Dilation * (kernel - 1)) - 1;
        return span < 0 || Stride < 1 ? 0 : (span / Stride) + 1;
    }

    public bool IsValid =>
        N >= 1 && C >= 1 && H >= 1 && W >= 1 && F >= 1 && Groups >= 1 && KernelH >= 1 && KernelW >= 1
        && Stride >= 1 && Padding >= 0 && Dilation >= 1
        && C % Groups == 0 && F % Groups == 0
        && OutputH >= 1 && OutputW >= 1;

    protected override string ParametersCSharp() =>
        $"N: {N}, C: {C}, H: {H}, W: {W}, F: {F}, Groups: {Groups}, KernelH: {KernelH}, KernelW: {KernelW}, "
        + $"Stride: {Stride}, Padding: {Padding}, Dilation: {Dilation}, Bias: {(Bias ? "true" : "false")}";

    protected override string DescribeParameters() =>
        $"N={N}, C={C}, H={H}, W={W}, F={F}, groups={Groups}, kernel={KernelH}×{KernelW}, stride={Stride}, padding={Padding}, dilation={Dilation}, bias={(Bias ? "yes" : "no")}";

    internal IEnumerable<Conv2dCase> Shrink()
    {
        var c = this;
        var candidates = Enumerable.Empty<Conv2dCase>()
            .Concat(Bias ? [c with { Bias = false }] : [])
            .Concat(Towards(Groups, 1).Select(v => c with { Groups = v }))
            .Concat(Towards(N, 1).Select(v => c with { N = v }))
            .Concat(Towards(C, 1).Select(v => c with { C = v }))
            .Concat(Towards(F, 1).Select(v => c with { F = v }))
            .Concat(Towards(KernelH, 1).Select(v => c with { KernelH = v }))
            .Concat(Towards(KernelW, 1).Select(v => c with { KernelW = v }))
            .Concat(Towards(Stride, 1).Select(v => c with { Stride = v }))
            .Concat(Towards(Dilation, 1).Select(v => c with { Dilation = v }))
            .Concat(Towards(Padding, 0).Select(v => c with { Padding = v }))
            .Concat(Towards(H, 1).Select(v => c with { H = v }))
            .Concat(Towards(W, 1).Select(v => c with { W = v }));
        return candidates.Where(x => x.IsValid).Concat(ShrinkSampling(c));
    }
}

/// <summary>
/// Valid MaxPool2d parameters (see <see cref="Arbitraries.MaxPool2d"/>): input [N, C, H, W], padding at
/// most half the kernel, an output of at least 1, and every window touching the input (a window of
/// padding only would output −∞, which has no finite difference).
/// </summary>
public sealed record MaxPool2dCase(
    int N, int C, int H, int W, int KernelH, int KernelW, int Stride, int Padding, int Dilation, bool CeilMode)
    : GradCase
{
    public int OutputH => OutputSize(H, KernelH);

    public int OutputW => OutputSize(W, KernelW);

    public int[] InputShape => [N, C, H, W];

    public int[] OutputShape => [N, C, OutputH, OutputW];

    public override IReadOnlyList<int[]> Shapes => [InputShape];

    /// <summary>
    /// PyTorch's pooling_output_shape: ⌊ or ⌈(H + 2·padding − dilation·(kernel − 1) − 1) / stride⌉ + 1, where
    /// in ceil mode the last window must start inside the input or its leading padding.
    /// </summary>
    private int OutputSize(int size, int kernel)
    {
        if (Stride < 1)
        {
            return 0;
        }

        var numerator = size + (2 * Padding) - (Dilation * (kernel - 1)) - 1 + (CeilMode ? Stride - 1 : 0);
        var o = (int)Math.Floor(numerator / (double)Stride) + 1;
        if (CeilMode && (o - 1) * Stride >= size + Padding)
        {
            o--;
        }

        return o;
    }

    private bool WindowsTouchInput(int size, int kernel, int outputs)
    {
        for (var o = 0; o < outputs; o++)
        {
            var touches = false;
            for (var t = 0; t < kernel && !touches; t++)
            {
                var at = (o * Stride) - Padding + (t * Dilation);
                touches = at >= 0 && at < size;
            }

            if (!touches)
            {
                return false;
            }
        }

        return true;
    }

    public bool IsValid =>
        N >= 1 && C >= 1 && H >= 1 && W >= 1 && KernelH >= 1 && KernelW >= 1 && Stride >= 1 && Dilation >= 1
        && Padding >= 0 && Padding <= KernelH / 2 && Padding <= KernelW / 2
        && OutputH >= 1 && OutputW >= 1
        && WindowsTouchInput(H, KernelH, OutputH) && WindowsTouchInput(W, KernelW, OutputW);

    protected override string ParametersCSharp() =>
        $"N: {N}, C: {C}, H: {H}, W: {W}, KernelH: {KernelH}, KernelW: {KernelW}, Stride: {Stride}, Padding: {Padding}, "
        + $"Dilation: {Dilation}, CeilMode: {(CeilMode ? "true" : "false")}";

    protected override string DescribeParameters() =>
        $"N={N}, C={C}, H={H}, W={W}, kernel={KernelH}×{KernelW}, stride={Stride}, padding={Padding}, dilation={Dilation}, ceilMode={(CeilMode ? "true" : "false")}";

    internal IEnumerable<MaxPool2dCase> Shrink()
    {
        var c = this;
        var candidates = Enumerable.Empty<MaxPool2dCase>()
            .Concat(CeilMode ? [c with { CeilMode = false }] : [])
            .Concat(Towards(N, 1).Select(v => c with { N = v }))
            .Concat(Towards(C, 1).Select(v => c with { C = v }))
            // A smaller kernel may allow less padding only (padding ≤ kernel / 2): shrink both at once, and
            // both kernel dimensions together, or a 2×2 kernel padded by 1 over a 1×1 input could not shrink.
            .Concat(Towards(Math.Max(KernelH, KernelW), 1).Select(v =>
                c with { KernelH = Math.Min(KernelH, v), KernelW = Math.Min(KernelW, v), Padding = Math.Min(Padding, Math.Min(KernelH, Math.Min(KernelW, v)) / 2) }))
            .Concat(Towards(KernelH, 1).Select(v => c with { KernelH = v, Padding = Math.Min(Padding, Math.Min(v, KernelW) / 2) }))
            .Concat(Towards(KernelW, 1).Select(v => c with { KernelW = v, Padding = Math.Min(Padding, Math.Min(KernelH, v) / 2) }))
            .Concat(Towards(Stride, 1).Select(v => c with { Stride = v }))
            .Concat(Towards(Dilation, 1).Select(v => c with { Dilation = v }))
            .Concat(Towards(Padding, 0).Select(v => c with { Padding = v }))
            .Concat(Towards(H, 1).Select(v => c with { H = v }))
            .Concat(Towards(W, 1).Select(v => c with { W = v }));
        return candidates.Where(x => x.IsValid).Concat(ShrinkSampling(c));
    }
}

/// <summary>
/// Operand shapes valid under PyTorch's matmul rules (see <see cref="Arbitraries.MatMul"/>): A is [K]
/// when <see cref="AVector"/>, else [..ABatch, N, K]; B is [K] when <see cref="BVector"/>, else
/// [..BBatch, K, M]; the batch dimensions broadcast against each other.
/// </summary>
public sealed record MatMulCase(int[] ABatch, int[] BBatch, int N, int K, int M, bool AVector, bool BVector) : GradCase
{
    public int[] AShape => AVector ? [K] : [.. ABatch, N, K];

    public int[] BShape => BVector ? [K] : [.. BBatch, K, M];

    public override IReadOnlyList<int[]> Shapes => [AShape, BShape];

    /// <summary>
    /// torch.matmul's result: 1-D·1-D is a scalar; otherwise the broadcast batch dimensions, then N
    /// (dropped when A is a vector) and M (dropped when B is a vector).
    /// </summary>
    public int[] OutputShape
    {
        get
        {
            var batch = ShapeMath.Broadcast(AVector ? [] : ABatch, BVector ? [] : BBatch, "MatMulCase");
            return [.. batch, .. (AVector ? Array.Empty<int>() : [N]), .. (BVector ? Array.Empty<int>() : [M])];
        }
    }

    public bool IsValid
    {
        get
        {
            if (N < 1 || K < 1 || M < 1 || ABatch.Any(d => d < 1) || BBatch.Any(d => d < 1))
            {
                return false;
            }

            // A vector operand has no batch dimensions; its N (or M) is fixed at 1 so that cases compare equal.
            if ((AVector && (ABatch.Length > 0 || N != 1)) || (BVector && (BBatch.Length > 0 || M != 1)))
            {
                return false;
            }

            for (int i = ABatch.Length - 1, j = BBatch.Length - 1; i >= 0 && j >= 0; i--, j--)
            {
                if (ABatch[i] != BBatch[j] && ABatch[i] != 1 && BBatch[j] != 1)
                {
                    return false;
                }
            }

            return true;
        }
    }

    protected override string ParametersCSharp() =>
        $"ABatch: {CSharp.Shape(ABatch)}, BBatch: {CSharp.Shape(BBatch)}, N: {N}, K: {K}, M: {M}, "
        + $"AVector: {(AVector ? "true" : "false")}, BVector: {(BVector ? "true" : "false")}";

    protected override string DescribeParameters() => $"A {Format(AShape)} · B {Format(BShape)}";

    internal IEnumerable<MatMulCase> Shrink()
    {
        var c = this;
        IEnumerable<MatMulCase> Candidates()
        {
            // Fewer batch dimensions first: drop the leading one of either operand (broadcasting keeps it valid).
            if (ABatch.Length > 0)
            {
                yield return c with { ABatch = ABatch[1..] };
            }

            if (BBatch.Length > 0)
            {
                yield return c with { BBatch = BBatch[1..] };
            }

            // A batch position shrinks in both operands at once, since equal sizes must stay equal.
            var rank = Math.Max(ABatch.Length, BBatch.Length);
            for (var r = 1; r <= rank; r++)
            {
                var a = r <= ABatch.Length ? ABatch[^r] : 1;
                var b = r <= BBatch.Length ? BBatch[^r] : 1;
                var size = Math.Max(a, b);
                foreach (var smaller in Towards(size, 1))
                {
                    var na = (int[])ABatch.Clone();
                    var nb = (int[])BBatch.Clone();
                    if (r <= na.Length && na[^r] == size)
                    {
                        na[^r] = smaller;
                    }

                    if (r <= nb.Length && nb[^r] == size)
                    {
                        nb[^r] = smaller;
                    }

                    yield return c with { ABatch = na, BBatch = nb };
                }
            }

            foreach (var v in Towards(N, 1))
            {
                yield return c with { N = v };
            }

            foreach (var v in Towards(K, 1))
            {
                yield return c with { K = v };
            }

            foreach (var v in Towards(M, 1))
            {
                yield return c with { M = v };
            }

            // A matrix with one row (or column) and no batch is one step from a vector.
            if (!AVector && ABatch.Length == 0 && N == 1)
            {
                yield return c with { AVector = true };
            }

            if (!BVector && BBatch.Length == 0 && M == 1)
            {
                yield return c with { BVector = true };
            }
        }

        return Candidates().Where(x => x.IsValid).Concat(ShrinkSampling(c));
    }
}
