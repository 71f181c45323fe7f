namespace Autograd.Kernels;

/// <summary>The output size of a pooling window sweep, shared by max and average pooling.</summary>
internal static class PoolingShape
{
    /// <summary>
    /// PyTorch's pooling_output_shape: ⌊(size + 2·pad − d·(k − 1) − 1 (+ s − 1 in ceil mode)) / s⌋ + 1,
    /// minus one in ceil mode when the last window would start beyond the input and its left padding.
    /// </summary>
    public static int OutputSize(int size, int kernel, int stride, int pad, int dilation, bool ceilMode)
    {
        // In long, and at least 0: a huge dilation or stride means "too small", not a wrapped-around size.
        var span = size + 2L * pad - (long)dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1L : 0);
        var output = (long)Math.Floor((double)span / stride) + 1;
        if (ceilMode && (output - 1) * stride >= size + (long)pad)
        {
            output--;
        }

        return (int)Math.Clamp(output, 0, int.MaxValue);
    }
}
