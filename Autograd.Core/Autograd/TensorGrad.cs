using System.Numerics;

namespace Autograd;

public static partial class Tensor
{
    /// <summary>
    /// The gradients of <paramref name="outputs"/> with respect to <paramref name="inputs"/> (leaves or
    /// intermediate tensors), Σ_k d(outputs[k])/d(input)ᵀ · gradOutputs[k], returned instead of added into
    /// any <c>Grad</c>: PyTorch's torch.autograd.grad. Only the part of the graph between them runs.
    /// </summary>
    /// <param name="outputs">Tensors to differentiate (each recorded, or a leaf that requires grad).</param>
    /// <param name="inputs">Tensors to differentiate with respect to; each must require grad.</param>
    /// <param name="gradOutputs">The cotangent per output (null entries, or null altogether: 1 for a one-element output).</param>
    /// <param name="retainGraph">Keep the graph for another pass; defaults to <paramref name="createGraph"/>.</param>
    /// <param name="createGraph">Record the backward pass, so that the returned gradients can be differentiated again (gradient penalties, Hessian-vector products).</param>
    /// <param name="allowUnused">Return null for an input the outputs do not depend on, instead of throwing.</param>
    public static Tensor<T>?[] Grad<T>(
        Tensor<T>[] outputs,
        Tensor<T>[] inputs,
        Tensor<T>?[]? gradOutputs = null,
        bool? retainGraph = null,
        bool createGraph = false,
        bool allowUnused = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(inputs);
        if (outputs.Length == 0)
        {
            throw new ArgumentException("Grad: no outputs to differentiate.", nameof(outputs));
        }

        if (gradOutputs is not null && gradOutputs.Length != outputs.Length)
        {
            throw new ArgumentException($"Grad: {gradOutputs.Length} gradOutputs for {outputs.Length} outputs.", nameof(gradOutputs));
        }

        var seeds = new Tensor<T>[outputs.Length];
        for (var k = 0; k < outputs.Length; k++)
        {
            var y = outputs[k] ?? throw new ArgumentException($"Grad: output {k} is null.", nameof(outputs));
            seeds[k] = Tensor<T>.Seed(y, gradOutputs?[k], "Grad", $"gradOutputs[{k}]");
        }

        for (var i = 0; i < inputs.Length; i++)
        {
            var x = inputs[i] ?? throw new ArgumentException($"Grad: input {i} is null.", nameof(inputs));
            if (!x.RequiresGrad)
            {
                throw new ArgumentException($"Grad: input {i} (shape {ShapeMath.Format(x.ShapeArray)}) does not require grad; set RequiresGrad on it before computing the outputs.", nameof(inputs));
            }
        }

        return Engine.Grad(outputs, seeds, inputs, retainGraph ?? createGraph, createGraph, allowUnused);
    }

    /// <summary>The gradients of one output (see <see cref="Grad{T}(Tensor{T}[], Tensor{T}[], Tensor{T}?[], bool?, bool, bool)"/>).</summary>
    public static Tensor<T>?[] Grad<T>(
        Tensor<T> output,
        Tensor<T>[] inputs,
        Tensor<T>? gradOutput = null,
        bool? retainGraph = null,
        bool createGraph = false,
        bool allowUnused = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Grad([output], inputs, [gradOutput], retainGraph, createGraph, allowUnused);

    /// <summary>The gradient of one output with respect to one input (null only with <paramref name="allowUnused"/>).</summary>
    public static Tensor<T>? Grad<T>(
        Tensor<T> output,
        Tensor<T> input,
        Tensor<T>? gradOutput = null,
        bool? retainGraph = null,
        bool createGraph = false,
        bool allowUnused = false)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Grad([output], [input], [gradOutput], retainGraph, createGraph, allowUnused)[0];
}
