using System.Globalization;
using System.Text;

namespace Autograd.Testing;

/// <summary>
/// Tolerances and checks of <see cref="GradCheck"/>. The tolerances default to PyTorch's gradcheck
/// defaults; every extra check is on by default because each costs only a few backward passes.
/// </summary>
public sealed record GradCheckOptions
{
    /// <summary>
    /// The defaults of a float32 check (<c>GradCheck.CheckFloat32(f, reference, floatInputs)</c>): the finite differences
    /// run in float64 with the same step, so only the analytic side carries float32 rounding. A float32 VJP's
    /// relative error is a few ulps (6e-8 each) times the length of the sums it does (≤ 1e3 here), so
    /// atol = 1e-4 and rtol = 1e-3 pass every right op and fail any error a hundredth of the gradient's size.
    /// </summary>
    public static GradCheckOptions Float32 => new() { Atol = 1e-4, Rtol = 1e-3 };

    /// <summary>Finite-difference step.</summary>
    public double Eps { get; init; } = 1e-6;

    /// <summary>Absolute tolerance.</summary>
    public double Atol { get; init; } = 1e-5;

    /// <summary>Relative tolerance, times |numeric|.</summary>
    public double Rtol { get; init; } = 1e-3;

    /// <summary>
    /// Compare <see cref="Projections"/> random projections vᵀJu instead of the whole Jacobian: two
    /// evaluations of f and one backward pass each, whatever the sizes (PyTorch's fast_mode).
    /// </summary>
    public bool FastMode { get; init; }

    /// <summary>Number of random (u, v) pairs in <see cref="FastMode"/>.</summary>
    public int Projections { get; init; } = 4;

    /// <summary>The properties of the VJP checked besides the Jacobian.</summary>
    public VjpChecks Checks { get; init; } = VjpChecks.All;

    /// <summary>How far two backward passes with the same cotangent may differ (PyTorch's nondet_tol).</summary>
    public double NondetTol { get; init; }

    /// <summary>What to do where f has a kink (the one-sided differences disagree).</summary>
    public NonDifferentiablePolicy NonDifferentiable { get; init; } = NonDifferentiablePolicy.Report;

    /// <summary>Seed of the random cotangents and projection directions; the same seed gives the same check.</summary>
    public ulong Seed { get; init; }

    /// <summary>
    /// 1: check the gradients (gradcheck). 2: check the gradients of the gradients (PyTorch's
    /// gradgradcheck, see <see cref="GradGradCheck"/>): the VJP x, v ↦ Jᵀv, recorded with createGraph, is
    /// itself checked against finite differences, with the cotangent v a random input of its own.
    /// </summary>
    public int Order { get; init; } = 1;

    /// <summary>Default options with <see cref="Order"/> 2: any gradient property becomes a second-order one.</summary>
    public static GradCheckOptions SecondOrder { get; } = new() { Order = 2 };

    /// <summary>The C# object initializer of these options, listing what differs from the defaults; null when nothing does.</summary>
    public string? ToCSharp()
    {
        var defaults = new GradCheckOptions();
        var parts = new List<string>();
        void Add(bool differs, string name, string value)
        {
            if (differs)
            {
                parts.Add($"{name} = {value}");
            }
        }

        Add(Eps != defaults.Eps, nameof(Eps), CSharp.Double(Eps));
        Add(Atol != defaults.Atol, nameof(Atol), CSharp.Double(Atol));
        Add(Rtol != defaults.Rtol, nameof(Rtol), CSharp.Double(Rtol));
        Add(FastMode, nameof(FastMode), "true");
        Add(Projections != defaults.Projections, nameof(Projections), Projections.ToString(CultureInfo.InvariantCulture));
        Add(Checks != defaults.Checks, nameof(Checks), CSharp.Flags(Checks));
        Add(NondetTol != defaults.NondetTol, nameof(NondetTol), CSharp.Double(NondetTol));
        Add(NonDifferentiable != defaults.NonDifferentiable, nameof(NonDifferentiable), $"{nameof(NonDifferentiablePolicy)}.{NonDifferentiable}");
        Add(Seed != defaults.Seed, nameof(Seed), Seed.ToString(CultureInfo.InvariantCulture));
        Add(Order != defaults.Order, nameof(Order), Order.ToString(CultureInfo.InvariantCulture));
        return parts.Count == 0 ? null : new StringBuilder("new GradCheckOptions { ").AppendJoin(", ", parts).Append(" }").ToString();
    }
}

/// <summary>Properties every correct VJP has, checked by <see cref="GradCheck"/> with random cotangents.</summary>
[Flags]
public enum VjpChecks
{
    None = 0,

    /// <summary>Every gradient has its input's shape (the engine rejects a VJP that breaks this; the check reports it).</summary>
    GradShapes = 1,

    /// <summary>A zero cotangent gives zero gradients: vjp(0) = 0.</summary>
    ZeroCotangent = 2,

    /// <summary>The VJP is linear in the cotangent: vjp(a·u + b·v) = a·vjp(u) + b·vjp(v).</summary>
    Linearity = 4,

    /// <summary>A second backward pass through the same graph gives the same gradients.</summary>
    Reentrancy = 8,

    /// <summary>
    /// The VJP does not depend on the cotangent's layout: a cotangent handed to backward as a strided view at a
    /// non-zero storage offset, as a transposed view or as an expanded (stride-0) view gives the same gradients
    /// as a contiguous one; and the Jacobian rows are fed in these layouts in turn.
    /// </summary>
    CotangentViews = 16,

    /// <summary>
    /// Every backward pass leaves the caller's tensors bit-for-bit unchanged (the gradOutput passed to it, its
    /// whole buffer included, and every input), gives no two leaves one Grad buffer, and a second pass adds to
    /// each leaf's Grad exactly its gradient, touching no other leaf's Grad.
    /// </summary>
    CallerTensorsUnchanged = 32,

    /// <summary>
    /// With two or more checked inputs, each in turn made a constant (RequiresGrad off, f recorded again): the
    /// others get the same gradients, so a VJP's "is this gradient wanted" branches never change a result.
    /// </summary>
    PartialGradients = 64,

    All = GradShapes | ZeroCotangent | Linearity | Reentrancy | CotangentViews | CallerTensorsUnchanged | PartialGradients,
}

/// <summary>What <see cref="GradCheck"/> does with an element where f is not differentiable.</summary>
public enum NonDifferentiablePolicy
{
    /// <summary>
    /// List it in <see cref="GradCheckResult.NotDifferentiable"/> and leave it out of the comparison; a
    /// <see cref="GradProperty"/> discards such a sample and draws another.
    /// </summary>
    Report,

    /// <summary>Count it as a failure.</summary>
    Fail,

    /// <summary>Do not look for kinks: compare central differences everywhere (PyTorch's behaviour).</summary>
    Ignore,
}
