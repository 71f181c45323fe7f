using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// The recorded pair behind AvgPool2d and AdaptiveAvgPool2d: the pool P (a linear map, y = P·x) and its
/// transpose, the spread Pᵀ. The VJP of the pool is the spread and the VJP of the spread is the pool,
/// so when a backward pass records (create_graph) the pooling gradient is itself differentiable.
/// </summary>
internal static class AveragePooling
{
    /// <summary>y = P·x for x [N, C, H, W], recorded as <paramref name="op"/>. VJP: dx = Pᵀ·g.</summary>
    public static Tensor<T> Pool<T>(string op, Tensor<T> x, AverageWindows win)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (n, c) = (x.ShapeArray[0], x.ShapeArray[1]);
        var result = Tensor<T>.Uninitialized([n, c, win.OH, win.OW]);
        using (var xr = x.Read())
        using (var yw = result.Write())
        {
            AveragePool.Forward(xr.Memory, xr.Offset, xr.Strides, n, c, win, yw.Memory);
        }

        if (Tape.ShouldRecord(x))
        {
            Tape.Record(op, result, [x], (g, grads) => grads[0] = Spread(op, g, win));
        }

        return result;
    }

    /// <summary>dx = Pᵀ·dy for dy [N, C, OH, OW], recorded (when dy requires grad) as "{op}Backward". VJP: d(dy) = P·g.</summary>
    public static Tensor<T> Spread<T>(string op, Tensor<T> dy, AverageWindows win)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (n, c) = (dy.ShapeArray[0], dy.ShapeArray[1]);
        var result = Tensor<T>.ZeroFilled([n, c, win.H, win.W]);
        using (var dyr = dy.Read())
        using (var dxw = result.Write())
        {
            AveragePool.Spread(dyr.Memory, dyr.Offset, dyr.Strides, n, c, win, dxw.Memory);
        }

        if (Tape.ShouldRecord(dy))
        {
            Tape.Record(op + "Backward", result, [dy], (g, grads) => grads[0] = Pool(op, g, win));
        }

        return result;
    }

    /// <summary>Runs <paramref name="pool"/> on a 4-D input, or on a 3-D [C, H, W] input as a batch of one.</summary>
    public static Tensor<T> Batched<T>(Tensor<T> input, Func<Tensor<T>, Tensor<T>> pool)
        where T : unmanaged, IFloatingPointIeee754<T>
        => input.Rank == 3 ? pool(input.Unsqueeze(0)).Squeeze(0) : pool(input);
}
