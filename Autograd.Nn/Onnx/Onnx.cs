using System.Diagnostics.CodeAnalysis;
using System.Numerics;

namespace Autograd.Nn;

/// <summary>
/// ONNX export (opset 17) by tracing one forward pass, as <c>torch.onnx.export</c>: the ops the pass runs become
/// nodes, the tensors it reads become initialisers (named by <c>namedTensors</c>, else <c>const</c>), dimension 0
/// of the input and output is the symbolic <c>batch</c>; every other size is fixed at the sample's. An op with no
/// ONNX form (a custom <see cref="Function{T}"/>, or one outside the table in docs/onnx.md) throws
/// <see cref="NotSupportedException"/> naming the op and the line that called it. Module users call
/// <see cref="OnnxModuleExtensions.ExportOnnx{T}(Module{T}, string, Tensor{T})"/>.
/// </summary>
/// <remarks>
/// The trace follows values, not control flow: a branch on a tensor's value or on the batch size is frozen at the
/// sample's. The batch must stay dimension 0 (a reshape may keep it or fold it into dimension 0).
/// </remarks>
public static class Onnx
{
    /// <summary>The opset the exported models import.</summary>
    public const int Opset = OnnxModel.Opset;

    /// <summary>
    /// Exports <paramref name="f"/> traced on <paramref name="sampleInput"/> (at least 1-D; dimension 0 is the batch) to
    /// <paramref name="path"/>. <paramref name="namedTensors"/> names the parameters and buffers <paramref name="f"/>
    /// reads (a module's <c>NamedParameters()</c> and <c>NamedBuffers()</c>); it runs <paramref name="f"/> once, in grad mode
    /// so that an op without an ONNX form can be named; nothing is written to <paramref name="path"/> unless the export succeeds.
    /// </summary>
    public static void Export<T>(
        Func<Tensor<T>, Tensor<T>> f,
        Tensor<T> sampleInput,
        string path,
        IEnumerable<(string Name, Tensor<T> Tensor)>? namedTensors = null,
        string inputName = "input",
        string outputName = "output")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckArguments(f, sampleInput, sampleInput?.Shape, path, inputName, outputName);

        // A leaf of its own that requires grad: every op downstream is recorded, so one that did not report to the
        // trace is still found (with its name and call site) on the tape.
        var input = sampleInput.Detach();
        input.RequiresGrad = true;
        var dataType = typeof(T) == typeof(float) ? OnnxModel.Float : OnnxModel.Double;
        Write(() => f(input), input, new ValueDeclaration(inputName, dataType, sampleInput.Shape, true), path, namedTensors, outputName);
    }

    /// <summary>
    /// <see cref="Export{T}(Func{Tensor{T}, Tensor{T}}, Tensor{T}, string, IEnumerable{ValueTuple{string, Tensor{T}}}?, string, string)"/>
    /// for a function of token ids (an int64 input, such as a language model's <c>Forward(IndexTensor)</c>).
    /// </summary>
    public static void Export<T>(
        Func<IndexTensor, Tensor<T>> f,
        IndexTensor sampleInput,
        string path,
        IEnumerable<(string Name, Tensor<T> Tensor)>? namedTensors = null,
        string inputName = "input",
        string outputName = "output")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckArguments(f, sampleInput, sampleInput?.Shape, path, inputName, outputName);
        var input = IndexTensor.FromArray(sampleInput.ToArray(), sampleInput.Shape);   // its own object: the graph input is found by reference
        Write(() => f(input), input, new ValueDeclaration(inputName, OnnxModel.Int64, sampleInput.Shape, true), path, namedTensors, outputName);
    }

    private static void CheckArguments(Delegate f, [NotNull] object? sampleInput, int[]? shape, string path, string inputName, string outputName)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(sampleInput);
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(inputName);
        ArgumentException.ThrowIfNullOrEmpty(outputName);
        if (shape!.Length == 0)
        {
            throw new ArgumentException("Onnx.Export: the sample input must have a batch dimension (rank ≥ 1), got shape [].", "sampleInput");
        }

        if (inputName == outputName)
        {
            throw new ArgumentException($"Onnx.Export: inputName and outputName must differ, both are '{inputName}'.", nameof(outputName));
        }
    }

    private static void Write<T>(Func<Tensor<T>> forward, object input, ValueDeclaration inputDeclaration, string path,
        IEnumerable<(string Name, Tensor<T> Tensor)>? namedTensors, string outputName)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor<T> output;
        OnnxModel model;
        string result;
        using (var trace = OpTrace.Begin())
        {
            using (Tensor.EnableGrad())
            {
                output = forward() ?? throw new InvalidOperationException("Onnx.Export: the function returned null.");
            }

            var exporter = new OnnxExporter<T>(trace, input, inputDeclaration.Name, namedTensors ?? []);
            result = exporter.Emit(output);
            model = exporter.Model;
        }

        // The graph's output goes through an Identity node, so that it has the name asked for (and an input or an
        // initialiser returned as is is still a valid output).
        var outputShape = output.Shape;
        var outputType = typeof(T) == typeof(float) ? OnnxModel.Float : OnnxModel.Double;
        var batch = outputShape.Length > 0 && outputShape[0] == inputDeclaration.Shape[0];
        var outputDeclaration = new ValueDeclaration(model.Output(result, outputName), outputType, outputShape, batch);
        var bytes = model.Serialize(inputDeclaration, outputDeclaration, "autograd");
        File.WriteAllBytes(path, bytes);
    }
}

/// <summary><c>model.ExportOnnx(path, sampleInput)</c>.</summary>
public static class OnnxModuleExtensions
{
    extension<T>(Module<T> module)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Exports the module to ONNX (opset 17) by tracing one forward pass in evaluation mode (Dropout is the
        /// identity, BatchNorm uses its running statistics) on <paramref name="sampleInput"/>, whose dimension 0 is the
        /// symbolic batch. Parameters and buffers become initialisers under their state-dict names. Each submodule's
        /// training mode is restored afterwards. See <see cref="Onnx"/>.
        /// </summary>
        public void ExportOnnx(string path, Tensor<T> sampleInput)
        {
            ArgumentNullException.ThrowIfNull(module);
            var modes = module.NamedModules().Select(m => (m.Module, m.Module.Training)).ToList();
            module.Eval();
            try
            {
                Onnx.Export(x => module.Forward(x), sampleInput, path, module.NamedParameters().Concat(module.NamedBuffers()));
            }
            finally
            {
                foreach (var (m, training) in modes)
                {
                    m.Train(training);
                }
            }
        }
    }
}
