using Autograd;

namespace Autograd.Tests.Testing;

/// <summary>
/// Custom ops (through <see cref="Function{T}"/>) used to test the checker: a right one and, for each
/// property GradCheck verifies, one that breaks exactly that property.
/// </summary>
internal static class TestFunctions
{
    /// <summary>Y = X·W, the VJP written by hand, optionally with a classic bug.</summary>
    internal sealed class MyMatMul(bool forgetTranspose = false) : Function<double>
    {
        public override string Name => forgetTranspose ? "MyMatMulForgetsTranspose" : "MyMatMul";

        protected override Tensor<double> Forward(FunctionContext<double> ctx, Tensor<double>[] inputs)
        {
            ctx.SaveForBackward(inputs[0], inputs[1]);
            return inputs[0].MatMul(inputs[1]);
        }

        protected override void Backward(FunctionContext<double> ctx, Tensor<double> g, Span<Tensor<double>?> grads)
        {
            var (x, w) = (ctx.SavedTensors[0], ctx.SavedTensors[1]);

            // dX = dY · Wᵀ (the bug: dY · W, which has the right shape when W is square), dW = Xᵀ · dY.
            grads[0] = forgetTranspose ? g.MatMul(w) : g.MatMul(w.Transpose(0, 1));
            grads[1] = x.Transpose(0, 1).MatMul(g);
        }
    }

    /// <summary>y = max(x, 0) elementwise, with ReLU's convention d/dx = 0 at x = 0.</summary>
    public static Tensor<double> MyRelu(Tensor<double> x) => Function.Apply("MyRelu", [x], xs =>
    {
        var v = xs[0].ToArray();
        var y = v.Select(a => Math.Max(a, 0)).ToArray();
        var shape = xs[0].Shape;
        return (Tensor.FromArray(y, shape), (g, grads) =>
        {
            var gv = g.ToArray();
            grads[0] = Tensor.FromArray(gv.Select((d, i) => v[i] > 0 ? d : 0).ToArray(), shape);
        });
    });

    /// <summary>
    /// y = max over the last dimension of a [n] vector (a one-window max-pool): the gradient goes to the
    /// first maximal element, as PyTorch's tie rule says.
    /// </summary>
    public static Tensor<double> MyMax(Tensor<double> x) => Function.Apply("MyMax", [x], xs =>
    {
        var v = xs[0].ToArray();
        var arg = Array.IndexOf(v, v.Max());
        var n = v.Length;
        return (Tensor.Scalar(v[arg]), (g, grads) =>
        {
            var d = new double[n];
            d[arg] = g.Item();
            grads[0] = Tensor.FromArray(d, [n]);
        });
    });

    /// <summary>y = 3·x with a VJP of 3·g, or with one of the bugs below.</summary>
    public static Tensor<double> Scale(Tensor<double> x, ScaleBug bug = ScaleBug.None)
    {
        var calls = 0;
        return Function.Apply($"Scale{bug}", [x], xs =>
        {
            var shape = xs[0].Shape;
            var input = xs[0];
            var y = Tensor.FromArray(xs[0].ToArray().Select(a => 3 * a).ToArray(), shape);
            return (y, (g, grads) =>
            {
                // Reads the cotangent's buffer as if it were contiguous at offset 0, as a kernel that takes
                // g.Storage.Span without its offset and strides would.
                var gv = bug == ScaleBug.ReadsCotangentAsContiguous ? g.Storage.Span[..g.Numel].ToArray() : g.ToArray();
                calls++;
                if (bug == ScaleBug.ClearsCotangent)
                {
                    // "Recycles" the incoming gradient buffer: the caller's gradOutput is wiped.
                    g.FillInPlace(0);
                }

                if (bug == ScaleBug.WritesIntoInput)
                {
                    // Uses the input's storage as scratch space.
                    input.FillInPlace(0);
                }

                grads[0] = bug switch
                {
                    // 3g + 1: right on no cotangent at all, wrong on zero (and so not linear).
                    ScaleBug.Affine => Tensor.FromArray(gv.Select(d => (3 * d) + 1).ToArray(), shape),

                    // 3·g·|g|: equal to 3g on every one-hot cotangent, so the Jacobian looks right.
                    ScaleBug.Quadratic => Tensor.FromArray(gv.Select(d => 3 * d * Math.Abs(d)).ToArray(), shape),

                    // Scales with the number of passes, as a VJP that mutates what it saved.
                    ScaleBug.NotReentrant => Tensor.FromArray(gv.Select(d => 3 * d * calls).ToArray(), shape),

                    // One element short.
                    ScaleBug.WrongShape => Tensor.FromArray(gv.Skip(1).Select(d => 3 * d).ToArray(), [gv.Length - 1]),
                    _ => Tensor.FromArray(gv.Select(d => 3 * d).ToArray(), shape),
                };
            });
        });
    }

    internal enum ScaleBug
    {
        None,
        Affine,
        Quadratic,
        NotReentrant,
        WrongShape,
        ReadsCotangentAsContiguous,
        ClearsCotangent,
        WritesIntoInput,
    }
}
