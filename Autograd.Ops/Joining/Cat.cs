using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

public static class CatExtensions
{
    extension(Tensor)
    {
        /// <summary>
        /// Joins tensors along an existing dimension (PyTorch's torch.cat): all have the same rank and
        /// the same sizes except in <paramref name="dim"/>. VJP: dtensors[i] = g.Narrow(dim, offset_i, size_i),
        /// offset_i the sum of the sizes before it.
        /// </summary>
        public static Tensor<T> Cat<T>(IReadOnlyList<Tensor<T>> tensors, int dim = 0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(tensors);
            if (tensors.Count == 0)
            {
                throw new ArgumentException("Cat: expected at least one tensor, got an empty list.", nameof(tensors));
            }

            var inputs = new Tensor<T>[tensors.Count];
            for (var i = 0; i < inputs.Length; i++)
            {
                inputs[i] = tensors[i] ?? throw new ArgumentException($"Cat: tensor {i} is null.", nameof(tensors));
            }

            var first = inputs[0].ShapeArray;
            if (first.Length == 0)
            {
                throw new ArgumentException("Cat: rank-0 tensors cannot be concatenated; use Stack.", nameof(tensors));
            }

            var d = ShapeMath.NormalizeDim(dim, first.Length, "Cat");
            var total = 0L;
            foreach (var (t, i) in inputs.Select((t, i) => (t, i)))
            {
                var ok = t.Rank == first.Length;
                for (var k = 0; ok && k < first.Length; k++)
                {
                    ok = k == d || t.ShapeArray[k] == first[k];
                }

                if (!ok)
                {
                    throw new ArgumentException(
                        $"Cat: tensor {i} has shape {ShapeMath.Format(t.ShapeArray)} but tensor 0 has shape {ShapeMath.Format(first)}; sizes must match except in dimension {d}.",
                        nameof(tensors));
                }

                total += t.ShapeArray[d];
            }

            var shape = (int[])first.Clone();
            shape[d] = (int)Math.Min(total, int.MaxValue);
            ShapeMath.Numel(shape, "Cat");
            var result = Tensor<T>.Uninitialized(shape);   // the inputs tile it along d
            var offsets = new int[inputs.Length];
            var at = 0;
            using (var rw = result.Write())
            {
                for (var i = 0; i < inputs.Length; i++)
                {
                    var t = inputs[i];
                    offsets[i] = at;
                    using var tr = t.Read();
                    Strided.Copy(rw.Span, at * result.StridesArray[d], result.StridesArray, tr.Span, tr.Offset, t.StridesArray, t.ShapeArray);
                    at += t.ShapeArray[d];
                }
            }

            if (Tape.ShouldRecord<T>(inputs))
            {
                var need = Array.ConvertAll(inputs, static t => t.RequiresGrad);
                Tape.Record("Cat", new CallSite(callerFile, callerLine), result, inputs, (g, grads) =>
                {
                    for (var i = 0; i < inputs.Length; i++)
                    {
                        if (need[i])
                        {
                            grads[i] = g.Narrow(d, offsets[i], inputs[i].ShapeArray[d]);
                        }
                    }
                });
            }

            return result;
        }

        /// <summary>
        /// Joins tensors of one shape along a new dimension <paramref name="dim"/> (PyTorch's torch.stack):
        /// Cat of each unsqueezed at dim. VJP: dtensors[i] = g.Select(dim, i).
        /// </summary>
        public static Tensor<T> Stack<T>(IReadOnlyList<Tensor<T>> tensors, int dim = 0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            ArgumentNullException.ThrowIfNull(tensors);
            if (tensors.Count == 0)
            {
                throw new ArgumentException("Stack: expected at least one tensor, got an empty list.", nameof(tensors));
            }

            var first = tensors[0] ?? throw new ArgumentException("Stack: tensor 0 is null.", nameof(tensors));
            var d = ShapeMath.NormalizeDim(dim, first.Rank + 1, "Stack");
            for (var i = 0; i < tensors.Count; i++)
            {
                var t = tensors[i] ?? throw new ArgumentException($"Stack: tensor {i} is null.", nameof(tensors));
                if (!t.ShapeArray.AsSpan().SequenceEqual(first.ShapeArray))
                {
                    throw new ArgumentException(
                        $"Stack: tensor {i} has shape {ShapeMath.Format(t.ShapeArray)} but tensor 0 has shape {ShapeMath.Format(first.ShapeArray)}; all must have the same shape.",
                        nameof(tensors));
                }
            }

            return Tensor.Cat(tensors.Select(t => t.Unsqueeze(d, callerFile, callerLine)).ToArray(), d, callerFile, callerLine);
        }
    }
}
