using System.Numerics;
using Autograd;
using Autograd.Testing;

namespace Autograd.Tests.Testing;

/// <summary>
/// float32 GradCheck: the float32 tape against float64 finite differences of the same function, and
/// checks of functions of parameters (what a module check is made of).
/// </summary>
public class Float32Tests
{
    /// <summary>
    /// y = x² with the VJP 2·x·g written by hand. With <paramref name="tailBug"/>, the float32 path is
    /// "vectorised" in blocks of 8 and forgets the tail (the last n mod 8 elements get no gradient), while
    /// the float64 path is a plain loop: a bug that only a float32 check can see.
    /// </summary>
    private sealed class SquareWithVectorTail<T>(bool tailBug) : Function<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private const int Block = 8;

        protected override Tensor<T> Forward(FunctionContext<T> ctx, Tensor<T>[] inputs)
        {
            ctx.SaveForBackward(inputs[0]);
            return inputs[0].Mul(inputs[0]);
        }

        protected override void Backward(FunctionContext<T> ctx, Tensor<T> g, Span<Tensor<T>?> grads)
        {
            var x = ctx.SavedTensors[0].ToArray();
            var gv = g.ToArray();
            var dx = new T[x.Length];
            var two = T.One + T.One;
            var scalarFrom = 0;
            if (typeof(T) == typeof(float))
            {
                var blocks = x.Length / Block * Block;
                for (var i = 0; i < blocks; i++)
                {
                    dx[i] = two * x[i] * gv[i];
                }

                scalarFrom = tailBug ? x.Length : blocks;
            }

            for (var i = scalarFrom; i < x.Length; i++)
            {
                dx[i] = two * x[i] * gv[i]; // d(x²) = 2x
            }

            grads[0] = Tensor.FromArray(dx, ctx.InputShape(0));
        }
    }

    private static Tensor<T> Square<T>(Tensor<T>[] xs, bool tailBug)
        where T : unmanaged, IFloatingPointIeee754<T>
        => new SquareWithVectorTail<T>(tailBug).Apply(xs[0]).Sum();

    private static Tensor<float> Floats(int n, ulong seed) =>
        Tensor.Randn<float>([n], new Generator(seed), requiresGrad: true);

    [Test]
    public void PlantedFloat32OnlyBug_IsCaughtByTheFloat32Check()
    {
        var x = Floats(11, 3);
        var r = GradCheck.CheckFloat32(xs => Square(xs, tailBug: true), xs => Square(xs, tailBug: true), [x]);
        Assert.That(r.Passed, Is.False);

        // Exactly the tail: elements 8, 9 and 10 got no gradient.
        Assert.That(r.Failures, Is.EqualTo(3), r.Message);
        Assert.That(r.Worst!.InputIndex[0], Is.GreaterThanOrEqualTo(8), r.Message);
        Assert.That(r.Worst.Analytic, Is.Zero);
    }

    [Test]
    public void PlantedFloat32OnlyBug_IsInvisibleToTheDoubleCheck()
    {
        // The same op in float64 takes the right path: a double-only GradCheck passes it.
        var x = Tensor.FromArray(Floats(11, 3).ToArray().Select(v => (double)v).ToArray(), [11], requiresGrad: true);
        var r = GradCheck.Check(xs => Square(xs, tailBug: true), [x]);
        Assert.That(r.Passed, Is.True, r.Message);
    }

    [Test]
    public void RightFloat32Op_PassesWithinFloat32Tolerances()
    {
        var r = GradCheck.CheckFloat32(xs => Square(xs, tailBug: false), xs => Square(xs, tailBug: false), [Floats(11, 3)]);
        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.Options, Is.EqualTo(GradCheckOptions.Float32));
    }

    private static Tensor<T> Network<T>(Tensor<T>[] xs)
        where T : unmanaged, IFloatingPointIeee754<T>
        => xs[0].Conv2d(xs[1], xs[2], padding: 1).Relu().MaxPool2d(2).Flatten(1).MatMul(xs[3]).LogSoftmax(1).Sum();

    [Test]
    public void Float32Check_OfBuiltInOps_Passes()
    {
        var g = new Generator(5);
        Tensor<float>[] xs =
        [
            Tensor.Randn<float>([2, 2, 4, 4], g, requiresGrad: true),
            Tensor.Randn<float>([3, 2, 3, 3], g, requiresGrad: true),
            Tensor.Randn<float>([3], g, requiresGrad: true),
            Tensor.Randn<float>([12, 5], g, requiresGrad: true),
        ];
        var before = xs.Select(x => x.ToArray()).ToArray();
        var r = GradCheck.CheckFloat32(Network, Network, xs);
        Assert.That(r.Passed || r.NotDifferentiable.Count > 0 && r.Failures == 0, Is.True, r.Message);
        Assert.That(r.EntriesChecked, Is.GreaterThan(100));
        Assert.That(xs.Select(x => x.ToArray()), Is.EqualTo(before), "the float inputs are never perturbed");
        Assert.That(xs.All(x => x.Grad is null), Is.True);
    }

    [Test]
    public void Float32Property_OverOps_MatchesFloat64FiniteDifferences() =>
        // Float kernels take other SIMD widths and tails than double ones: every op family in float32.
        GradProperty.Check(
            new CaseSpec().Int("op", 0, 6).Int("n", 1, 9).Int("k", 1, 9).Views(1),
            c =>
            {
                var gen = c.Generator();
                int[] shape = [c["n"], c["k"]];
                var x = Tensor.Randn<float>(shape, gen, requiresGrad: true);
                var w = Tensor.Randn<float>([c["k"], 3], gen, requiresGrad: true);
                var view = c.View(0) == ViewKind.Transposed;
                Tensor<T> F<T>(Tensor<T>[] xs)
                    where T : unmanaged, IFloatingPointIeee754<T>
                {
                    var a = view ? xs[0].Transpose(0, 1).Contiguous().Transpose(0, 1) : xs[0];
                    return c["op"] switch
                    {
                        0 => a.Tanh(),
                        1 => a.Sigmoid().Mul(a.Exp()),
                        2 => a.MatMul(xs[1]),
                        3 => a.LogSoftmax(1),
                        4 => a.Sum(0).Add(a.Mean(1, keepDim: true).Sum()),
                        5 => a.Mul(a).Div(a.Mul(a).Add(Tensor.Scalar(T.One))).Sub(a.Neg()),
                        _ => a.Max(1),
                    };
                }

                return GradCheck.CheckFloat32(F, F, [x, w]);
            });

    [Test]
    public void CheckParameters_ChecksAFunctionThatReadsItsParameters()
    {
        var g = new Generator(2);
        var x = Tensor.Randn<double>([4, 3], g);
        var w = Tensor.Randn<double>([3, 2], g, requiresGrad: true);
        var b = Tensor.Randn<double>([2], g, requiresGrad: true);
        var r = GradCheck.CheckParameters(() => x.MatMul(w).Add(b).Tanh().Sum(), [w, b]);
        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(r.EntriesChecked, Is.EqualTo(8));

        // A broken VJP inside is found the same way.
        var v = Tensor.Randn<double>([2, 2], g, requiresGrad: true);
        var m = Tensor.FromArray(new double[] { 1, 2, -3, 0.5 }, [2, 2]);
        var bad = GradCheck.CheckParameters(() => new TestFunctions.MyMatMul(forgetTranspose: true).Apply(v, m), [v]);
        Assert.That(bad.Passed, Is.False, bad.Message);
    }

    [Test]
    public void CheckParameters_Float32_AgainstAFloat64Twin_RestoresTheTwin()
    {
        var g = new Generator(4);
        var x32 = Tensor.Randn<float>([4, 3], g);
        var w32 = Tensor.Randn<float>([3, 5], g, requiresGrad: true);
        var x64 = Tensor.FromArray(x32.ToArray().Select(v => (double)v).ToArray(), [4, 3]);
        var w64 = Tensor.Zeros<double>(3, 5);
        w64.RequiresGrad = true;
        var r = GradCheck.CheckParameters(() => x32.MatMul(w32).Sigmoid().Sum(), [w32], () => x64.MatMul(w64).Sigmoid().Sum(), [w64]);
        Assert.That(r.Passed, Is.True, r.Message);
        Assert.That(w64.ToArray(), Is.All.Zero, "the twin's own values come back");

        var bug = GradCheck.CheckParameters(
            () => new SquareWithVectorTail<float>(tailBug: true).Apply(w32).Sum(), [w32],
            () => new SquareWithVectorTail<double>(tailBug: true).Apply(w64).Sum(), [w64]);
        Assert.That(bug.Passed, Is.False, "15 elements: the float path drops the last 7");
    }
}
