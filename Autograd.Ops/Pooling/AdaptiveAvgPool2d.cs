using System.Numerics;
using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// 2-D adaptive average pooling (PyTorch's adaptive_avg_pool2d): output [N, C, OH, OW] whatever the input
/// size, output row i averaging input rows ⌊i·H/OH⌋ … ⌈(i + 1)·H/OH⌉ − 1 (columns likewise). Bins may
/// overlap when the sizes do not divide. Pooling is linear, y = P·x, so the VJP is the spread
/// dx = Pᵀ·g: each bin's gradient divided by its size and added over its input elements — itself a
/// recorded op whose VJP is the pool again.
/// </summary>
public static class AdaptiveAvgPool2dExtensions
{
    extension<T>(Tensor<T> input)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Averages input [N, C, H, W] (or [C, H, W]) into <paramref name="outputSize"/> bins per plane.</summary>
        public Tensor<T> AdaptiveAvgPool2d(Size2 outputSize, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        {
            // Composed of recorded ops: each names the caller's line, not one in this file.
            using var callSite = CallSite.Enter(callerFile, callerLine);
            ArgumentNullException.ThrowIfNull(input);
            var shape = $"(input {ShapeMath.Format(input.ShapeArray)}, outputSize {outputSize})";
            if (input.Rank is not (3 or 4))
            {
                throw new ArgumentException($"AdaptiveAvgPool2d: input must be 4-D [N, C, H, W] or 3-D [C, H, W], got rank {input.Rank} {shape}.", nameof(input));
            }

            if (!outputSize.IsPositive)
            {
                throw new ArgumentException($"AdaptiveAvgPool2d: output size must be positive, got {outputSize} {shape}.", nameof(outputSize));
            }

            var (h, w) = (input.ShapeArray[^2], input.ShapeArray[^1]);
            if (input.ShapeArray[^3] < 1 || h < 1 || w < 1)
            {
                throw new ArgumentException($"AdaptiveAvgPool2d: channels and spatial size must be positive {shape}.", nameof(input));
            }

            var (rowStart, rowEnd) = Bins(h, outputSize.H);
            var (colStart, colEnd) = Bins(w, outputSize.W);
            var divisor = new long[outputSize.H * outputSize.W];
            for (var i = 0; i < outputSize.H; i++)
            {
                for (var j = 0; j < outputSize.W; j++)
                {
                    divisor[i * outputSize.W + j] = (long)(rowEnd[i] - rowStart[i]) * (colEnd[j] - colStart[j]);
                }
            }

            var windows = new AverageWindows(h, w, rowStart, rowEnd, colStart, colEnd, divisor);
            return AveragePooling.Batched(input, x => AveragePooling.Pool("AdaptiveAvgPool2d", x, windows));
        }
    }

    /// <summary>PyTorch's bins: start = ⌊i·size/outputs⌋, end = ⌈(i + 1)·size/outputs⌉.</summary>
    internal static (int[] Start, int[] End) Bins(int size, int outputs)
    {
        var (start, end) = (new int[outputs], new int[outputs]);
        for (var i = 0; i < outputs; i++)
        {
            start[i] = (int)((long)i * size / outputs);
            end[i] = (int)(((long)(i + 1) * size + outputs - 1) / outputs);
        }

        return (start, end);
    }
}
