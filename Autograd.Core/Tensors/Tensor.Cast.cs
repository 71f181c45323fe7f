using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

public sealed partial class Tensor<T>
{
    /// <summary>
    /// A copy converted to <typeparamref name="TOut"/> (float ↔ double; PyTorch's <c>x.to(dtype)</c>),
    /// rounding to nearest. VJP: dx = g converted back to T.
    /// </summary>
    /// <remarks>
    /// A method of the tensor rather than an extension: C# 14 extension members need every type argument
    /// spelled out (<c>x.Cast&lt;float, double&gt;()</c>). The tape is typed, so a node of
    /// Tensor&lt;TOut&gt; cannot list a Tensor&lt;T&gt; input: the cast records a node with no inputs whose
    /// VJP continues the running pass through this tensor's graph with the converted gradient, as a
    /// nested pass that shares the outer pass's mode (createGraph, Tensor.Grad targets, leaves); see
    /// <c>Engine.CrossType</c>. Backward is linear, so the leaves receive the same sum as from one pass.
    /// With createGraph the conversion of the gradient is itself a recorded cast, so the gradient
    /// can be differentiated again.
    /// </remarks>
    /// <summary>
    /// PyTorch's <c>x.to(dtype)</c>: this tensor itself when it already holds <typeparamref name="TOut"/>
    /// (as PyTorch, no copy), else <see cref="Cast{TOut}"/> (a differentiable copy).
    /// </summary>
    public Tensor<TOut> To<TOut>()
        where TOut : unmanaged, IFloatingPointIeee754<TOut>
        => this is Tensor<TOut> same ? same : Cast<TOut>();

    /// <summary>PyTorch's <c>x.float()</c>: <see cref="To{TOut}"/> with float32.</summary>
    public Tensor<float> Float() => To<float>();

    /// <summary>PyTorch's <c>x.double()</c>: <see cref="To{TOut}"/> with float64.</summary>
    public Tensor<double> Double() => To<double>();

    public Tensor<TOut> Cast<TOut>()
        where TOut : unmanaged, IFloatingPointIeee754<TOut>
    {
        var result = Tensor<TOut>.Uninitialized((int[])_shape.Clone());
        using (var r = Read())
        using (var w = result.Write())
        {
            TP.ConvertTruncating<T, TOut>(r.ContiguousElements, w.Elements);
        }

        if (Tape.ShouldRecord(this))
        {
            var input = this;
            Tape.Record("Cast", result, [], (g, grads) => Engine.CrossType(input, g.Cast<T>()));
            result._gradFn!._crossesType = true;
        }

        return result;
    }
}
