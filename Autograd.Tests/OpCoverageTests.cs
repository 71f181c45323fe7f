using System.Reflection;
using System.Text.RegularExpressions;
using Autograd;
using Autograd.Tests.Support;

namespace Autograd.Tests;

/// <summary>
/// Keeps the op table honest: every differentiable op, found by reflection (the extension methods
/// of Autograd.Ops and the view methods of Tensor&lt;T&gt;), needs a gradient property test named
/// <c>{Op}_GradientMatchesFiniteDifferences</c> and a row in docs/derivatives.md naming its file.
/// </summary>
public class OpCoverageTests
{
    /// <summary>Public members returning tensors that are not differentiable ops (comparisons return masks, OneHot a constant made from indices).</summary>
    private static readonly HashSet<string> NotOps = ["Detach", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "OneHot"];

    internal static IReadOnlyList<string> OpNames()
    {
        var ops = typeof(MatMulExtensions).Assembly.GetExportedTypes()
            .Where(t => t.IsAbstract && t.IsSealed && t != typeof(InPlaceExtensions)) // in-place updates are not recorded
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            // Extension methods and static extension members (Tensor.Cat); operators are lowered to op_* methods.
            .Where(m => IsTensor(m.ReturnType) && !m.IsSpecialName && !m.Name.StartsWith("op_", StringComparison.Ordinal))
            // An extension property (x.T) compiles to a get_ method that is not marked special: the op is the property.
            .Select(m => m.Name.StartsWith("get_", StringComparison.Ordinal) ? m.Name[4..] : m.Name);
        var views = typeof(Tensor<double>).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => IsTensor(m.ReturnType) && !m.IsSpecialName)
            .Select(m => m.Name);
        return ops.Concat(views).Where(n => !NotOps.Contains(n)).Distinct().Order().ToList();
    }

    /// <summary>The names of every test method in this assembly.</summary>
    private static HashSet<string> TestNames() =>
        typeof(OpCoverageTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods())
            .Where(m => m.IsDefined(typeof(TestAttribute)))
            .Select(m => m.Name)
            .ToHashSet();

    /// <summary>A tensor, or a tuple holding one (TopK's values and indices).</summary>
    private static bool IsTensor(Type t) =>
        t.IsGenericType && (t.GetGenericTypeDefinition() == typeof(Tensor<>) || (t.Namespace == "System" && t.Name.StartsWith("ValueTuple`", StringComparison.Ordinal) && t.GetGenericArguments().Any(IsTensor)));

    [Test]
    public void ReflectionFindsTheOps()
    {
        // Guards the guard: if reflection found nothing, the two checks below would pass vacuously.
        Assert.That(OpNames(), Is.SupersetOf(new[] { "Add", "MatMul", "Relu", "Sum", "Transpose", "AsStrided", "CrossEntropy", "Cat", "Stack", "Where", "Cast", "TopK" }));
    }

    [Test]
    public void EveryOp_HasAGradientProperty()
    {
        var tests = TestNames();
        var missing = OpNames().Where(op => !tests.Contains($"{op}_GradientMatchesFiniteDifferences")).ToList();
        Assert.That(missing, Is.Empty, "ops without a gradient property test");
    }

    /// <summary>
    /// The ops whose VJP must be differentiable, each with an <c>{Op}_SecondOrderMatchesFiniteDifferences</c>
    /// property (usually one line in SecondOrderTests). A list rather than every op found by reflection, so
    /// that branches adding ops merge without failing here; add an op's name when you add its line.
    /// </summary>
    internal static readonly string[] SecondOrderOps =
    [
        "Add", "Sub", "Mul", "Div", "Neg", "Exp", "Log", "Tanh", "Sigmoid", "Relu",
        "Sum", "Mean", "Max", "MatMul", "Conv2d", "ConvTranspose2d", "MaxPool2d",
        "LogSoftmax", "NllLoss", "CrossEntropy", "MseLoss", "L1Loss", "BinaryCrossEntropyWithLogits",
        "AvgPool2d", "AdaptiveAvgPool2d", "Dropout", "LayerNorm", "BatchNorm2d",
        "Reshape", "View", "Flatten", "Unsqueeze", "Squeeze", "Transpose", "Permute", "Slice", "Narrow", "Select",
        "Expand", "SumToSize", "AsStrided", "Contiguous", "Clone",
        "Pow", "Sqrt", "Rsqrt", "Square", "Abs", "Sign", "Clamp", "Maximum", "Minimum", "Softplus", "LeakyRelu", "Erf", "Gelu",
        "Where", "MaskedFill", "Min", "Prod", "Var", "Std", "LogSumExp", "Softmax",
        "Cat", "Stack", "IndexSelect", "Gather", "ScatterAdd", "Cast",
        "Embedding", "Tril", "Triu", "Norm", "TopK", "ScaledDotProductAttention",
        "BatchNorm1d", "Conv1d", "GroupNorm", "Dropout2d", "Interpolate",
        "Sort", "Lerp", "MaskedSelect", "Float",
    ];

    [Test]
    public void ListedOps_HaveASecondOrderProperty()
    {
        var tests = TestNames();
        Assert.That(OpNames(), Is.SupersetOf(SecondOrderOps), "listed ops that no longer exist");
        var missing = SecondOrderOps.Where(op => !tests.Contains($"{op}_SecondOrderMatchesFiniteDifferences")).ToList();
        Assert.That(missing, Is.Empty, "listed ops without a second-order property test");
    }

    [Test]
    public void EveryOp_HasARowInDerivativesMd()
    {
        var root = TestData.RepoRoot();
        var table = File.ReadAllLines(Path.Combine(root, "docs", "derivatives.md"));
        var missing = new List<string>();
        foreach (var op in OpNames())
        {
            var row = table.FirstOrDefault(l => Regex.IsMatch(l, $@"^\|\s*`{op}`\s*\|"));
            var file = row is null ? null : Regex.Match(row, @"`(Autograd\.[A-Za-z]+/[A-Za-z0-9./]+\.cs)`").Groups[1].Value;
            if (row is null || string.IsNullOrEmpty(file) || !File.Exists(Path.Combine(root, file)))
            {
                missing.Add(op);
            }
        }

        Assert.That(missing, Is.Empty, "ops without a row (with an existing file) in docs/derivatives.md");
    }
}
