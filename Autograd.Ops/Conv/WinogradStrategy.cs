using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// 3×3 stride-1 convolutions with at least 64 channels each way that <see cref="WideRows{T}"/> does not take
/// (<see cref="Winograd.Applies{T}"/>; the c3 workload): Y and dX by Winograd's F(2×2, 3×3), dX as the
/// full convolution of dY with the filters turned 180° and their channel axes swapped, padding 2 − p.
/// dW stays on the column path (<see cref="PackedColumns{T}"/>, with its batching of small images).
/// </summary>
internal sealed class WinogradStrategy<T>(ConvGeometry geometry) : PackedColumns<T>(geometry)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The column path's scratch (for dW), or the transforms' of either direction if larger.</summary>
    internal override int ScratchFor(int images)
    {
        var g = Geometry;
        return Math.Max(base.ScratchFor(images), Math.Max(Winograd.ScratchLength<T>(Winograd.Shape.Forward(g)), Winograd.ScratchLength<T>(Winograd.Shape.Adjoint(g))));
    }

    /// <summary>Y_n for every group by F(2×2, 3×3), then + b, image by image.</summary>
    public override void Forward(Tensor<T> x, ConvFilters<T> w, T[]? b, Memory<T> y, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        var filters = w.Winograd();
        using var xr = x.Read();
        var s = xr.Strides;
        for (var n = n0; n < n0 + count; n++)
        {
            for (var group = 0; group < g.Groups; group++)
            {
                Winograd.Convolve(filters, group, Winograd.Shape.Forward(g), xr.Span, xr.Offset + n * s[0] + group * g.Cg * s[1], s[1], s[2], s[3], y.Span, (n * g.F + group * g.Fg) * g.P, scratch);
            }

            if (b is not null)
            {
                AddBias(y.Span, n * g.F * g.P, b, 1, g.F, g.P);
            }
        }
    }

    /// <summary>The full convolution of dY with the turned filters: every element of dX written.</summary>
    public override void InputGradient(ConvFilters<T> w, ReadOnlyMemory<T> dy, int dyOffset, Memory<T> dx, int n0, int count, T[] scratch)
    {
        var g = Geometry;
        var imageSize = g.C * g.H * g.W;
        var shape = Winograd.Shape.Adjoint(g);
        var filters = w.Winograd();
        for (var n = n0; n < n0 + count; n++)
        {
            for (var group = 0; group < g.Groups; group++)
            {
                Winograd.Convolve(filters, group, shape, dy.Span, dyOffset + (n * g.F + group * g.Fg) * g.P, g.P, g.OW, 1, dx.Span, n * imageSize + group * g.Cg * g.H * g.W, scratch);
            }
        }
    }
}
