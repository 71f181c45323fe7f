using Autograd;
using Autograd.Testing;
using static Autograd.Tests.Ops.LayerVjpDifferentiabilityTests;

namespace Autograd.Tests.Ops;

/// <summary>
/// Readiness for create_graph of the everyday ops (as LayerVjpDifferentiabilityTests does for the layers):
/// each VJP runs with grad mode on and the gradient it returns, as a function of the op's inputs and of g,
/// is checked against finite differences. Compositions (MaskedFill, Var, Std, LogSumExp, Stack) are
/// differentiable twice when their parts are, so the ops here are those that record a node of their own.
/// </summary>
[Category("GradProperty")]
public class OpVjpDifferentiabilityTests
{
    private static readonly (string Name, int Inputs, Func<Tensor<double>[], Tensor<double>> Op)[] Ops =
    [
        ("Pow", 1, t => t[0].Pow(2.5)),
        ("PowTensor", 2, t => t[0].Pow(t[1])),
        ("Sqrt", 1, t => t[0].Sqrt()),
        ("Rsqrt", 1, t => t[0].Rsqrt()),
        ("Square", 1, t => t[0].Square()),
        ("Abs", 1, t => t[0].Abs()),
        ("Clamp", 1, t => t[0].Clamp(0.6, 1.4)),
        ("Maximum", 2, t => t[0].Maximum(t[1])),
        ("Minimum", 2, t => t[0].Minimum(t[1])),
        ("Softplus", 1, t => t[0].Softplus(beta: 2)),
        ("LeakyRelu", 1, t => (t[0] - 1.0).LeakyRelu(0.2)),
        ("Erf", 1, t => t[0].Erf()),
        ("Gelu", 1, t => t[0].Gelu()),
        ("GeluTanh", 1, t => t[0].Gelu("tanh")),
        ("Where", 2, t => t[0].Where(t[0].Gt(1.0), t[1])),
        ("Min", 1, t => t[0].Min(1)),
        ("Prod", 1, t => t[0].Prod(1)),
        ("Softmax", 1, t => t[0].Softmax(1)),
        ("Cat", 2, t => Tensor.Cat([t[0], t[1]], 1)),
        ("IndexSelect", 1, t => t[0].IndexSelect(1, [1, 0, 1])),
        ("Gather", 1, t => t[0].Gather(1, IndexTensor.FromArray(new long[] { 1, 1, 0, 1 }, [2, 2]))),
        ("ScatterAdd", 2, t => t[0].ScatterAdd(1, IndexTensor.FromArray(new long[] { 1, 1, 0, 1 }, [2, 2]), t[1])),
    ];

    [Test]
    public void Ops_VjpsAreDifferentiable() =>
        GradProperty.Check(
            new CaseSpec().Int("op", 0, Ops.Length - 1).Int("input", 0, 1).Where(c => c["input"] < Ops[c["op"]].Inputs),
            c =>
            {
                var gen = c.Generator();

                // Positive, spread values: away from the kinks of Abs, Clamp and the masks, valid for Sqrt and Pow.
                var leaves = Enumerable.Range(0, Ops[c["op"]].Inputs)
                    .Select(_ => Inputs.Make([2, 2], ViewKind.Contiguous, gen, 0.3, 2).Leaf)
                    .ToArray();
                return CheckVjp(Ops[c["op"]].Op, leaves, c["input"], gen);
            },
            maxTest: 150);
}
