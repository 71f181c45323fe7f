using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// The lower and upper triangles of the matrices in the last two dimensions (PyTorch's tril and triu):
/// each element is kept or zeroed by its position alone, so the VJP is the same triangle of g.
/// </summary>
public static class TrilExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>
        /// x[..., i, j] where j − i ≤ <paramref name="diagonal"/>, 0 above (0: the main diagonal kept;
        /// positive: that many diagonals above it kept too; negative: that many below it zeroed too), over
        /// the last two dimensions (rank ≥ 2). VJP: dx = g.Tril(diagonal), a recorded op again.
        /// </summary>
        public Tensor<T> Tril(int diagonal = 0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            Triangle(x, diagonal, lower: true, new CallSite(callerFile, callerLine));

        /// <summary>
        /// x[..., i, j] where j − i ≥ <paramref name="diagonal"/>, 0 below, over the last two dimensions
        /// (rank ≥ 2). VJP: dx = g.Triu(diagonal), a recorded op again.
        /// </summary>
        public Tensor<T> Triu(int diagonal = 0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) =>
            Triangle(x, diagonal, lower: false, new CallSite(callerFile, callerLine));
    }

    private static Tensor<T> Triangle<T>(Tensor<T> x, int diagonal, bool lower, CallSite callSite)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var op = lower ? "Tril" : "Triu";
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank < 2)
        {
            throw new ArgumentException($"{op}: needs at least two dimensions, the matrices being the last two (input {ShapeMath.Format(x.ShapeArray)}).", nameof(x));
        }

        var shape = x.ShapeArray;
        var result = Tensor<T>.Uninitialized((int[])shape.Clone());   // copied whole, then the other triangle cleared
        using (var xr = x.Read())
        using (var w = result.Write())
        {
            Strided.Copy(w.Span, 0, result.StridesArray, xr.Span, xr.Offset, xr.Strides, shape);
            int rows = shape[^2], cols = shape[^1];
            var data = w.Elements;
            for (var start = 0; start < data.Length; start += rows * cols)
            {
                for (var i = 0; i < rows; i++)
                {
                    // Tril clears columns j > i + diagonal, Triu columns j < i + diagonal.
                    var edge = (int)Math.Clamp((long)i + diagonal + (lower ? 1 : 0), 0, cols);
                    var row = data.Slice(start + i * cols, cols);
                    (lower ? row[edge..] : row[..edge]).Clear();
                }
            }
        }

        if (Tape.ShouldRecord(x))
        {
            Tape.Record(op, callSite, result, [x], (g, grads) => grads[0] = Triangle(g, diagonal, lower, CallSite.Unknown));
        }

        return result;
    }
}
