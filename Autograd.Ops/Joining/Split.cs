using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

public static class SplitExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// Views of consecutive pieces of <paramref name="splitSize"/> along <paramref name="dim"/>, the last
        /// possibly smaller (PyTorch's split with an int). Each piece is a Narrow view with its own VJP.
        /// </summary>
        public Tensor<T>[] Split(int splitSize, int dim = 0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(x);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "Split");
            var size = x.Rank == 0 ? 0 : x.ShapeArray[d];
            if (splitSize <= 0 && !(splitSize == 0 && size == 0))
            {
                throw new ArgumentException($"Split: splitSize must be positive, got {splitSize} (shape {ShapeMath.Format(x.ShapeArray)}).", nameof(splitSize));
            }

            var sizes = new List<int>();
            for (var start = 0; start < size; start += splitSize)
            {
                sizes.Add(Math.Min(splitSize, size - start));
            }

            return x.Split(sizes.Count == 0 ? [0] : [.. sizes], dim);
        }

        /// <summary>Views of consecutive pieces of the given sizes along <paramref name="dim"/>; the sizes must add up to the dimension's size.</summary>
        public Tensor<T>[] Split(int[] sizes, int dim = 0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(sizes);
            var d = ShapeMath.NormalizeDim(dim, x.Rank, "Split");
            if (x.Rank == 0)
            {
                throw new ArgumentException("Split: cannot split a rank-0 tensor.", nameof(dim));
            }

            if (sizes.Any(s => s < 0) || sizes.Sum(s => (long)s) != x.ShapeArray[d])
            {
                throw new ArgumentException(
                    $"Split: sizes {ShapeMath.Format(sizes)} must be non-negative and add up to {x.ShapeArray[d]}, the size of dimension {d} (shape {ShapeMath.Format(x.ShapeArray)}).",
                    nameof(sizes));
            }

            var pieces = new Tensor<T>[sizes.Length];
            var start = 0;
            for (var i = 0; i < sizes.Length; i++)
            {
                pieces[i] = x.Narrow(d, start, sizes[i]);
                start += sizes[i];
            }

            return pieces;
        }

        /// <summary>
        /// At most <paramref name="chunks"/> views along <paramref name="dim"/>, each of ⌈size/chunks⌉ but the
        /// last (PyTorch's chunk: fewer pieces when the size does not allow that many).
        /// </summary>
        public Tensor<T>[] Chunk(int chunks, int dim = 0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(x);
            if (chunks <= 0)
            {
                throw new ArgumentException($"Chunk: chunks must be positive, got {chunks} (shape {ShapeMath.Format(x.ShapeArray)}).", nameof(chunks));
            }

            var d = ShapeMath.NormalizeDim(dim, x.Rank, "Chunk");
            var size = x.Rank == 0 ? 0 : x.ShapeArray[d];
            return x.Split(Math.Max((size + chunks - 1) / chunks, size == 0 ? 0 : 1), d);
        }
    }
}
