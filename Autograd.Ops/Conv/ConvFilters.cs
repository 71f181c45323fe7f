using System.Numerics;

namespace Autograd.Kernels;

/// <summary>
/// The filters of one call as its products read them: the dense weight, and for the Gemm path each
/// group's W_g [Fg, K] (forward) or W_gᵀ [K, Fg] (dX) packed into the kernel's micro-panels the first
/// time a product asks (<see cref="Gemm.Pack{T}"/>), then shared by every image and block of the call
/// instead of packed again for each. Disposing gives the panels back to the pool.
/// </summary>
internal sealed class ConvFilters<T>(ReadOnlyMemory<T> w, int offset, ConvGeometry g, bool transposed) : IDisposable
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Gemm.PackedA<T>?[] _packed = new Gemm.PackedA<T>?[g.Groups];
    private Winograd.Filters<T>? _winograd;

    /// <summary>The dense [F, Cg, KH, KW] weight's memory.</summary>
    public ReadOnlyMemory<T> Memory => w;

    /// <summary>Where the weight starts in <see cref="Memory"/>.</summary>
    public int Offset => offset;

    /// <summary>Group <paramref name="group"/>'s filters as a packed left operand (workers share it).</summary>
    public Gemm.PackedA<T> Packed(int group)
    {
        lock (_packed)
        {
            var at = offset + group * g.Fg * g.K;
            return _packed[group] ??= transposed ? Gemm.Pack(g.K, g.Fg, w, at, 1, g.K) : Gemm.Pack(g.Fg, g.K, w, at, g.K, 1);
        }
    }

    /// <summary>The Winograd transforms of the filters (of their adjoint for dX), made on first use and shared.</summary>
    public Winograd.Filters<T> Winograd()
    {
        lock (_packed)
        {
            return _winograd ??= new Winograd.Filters<T>(w.Span, offset, g, adjoint: transposed);
        }
    }

    public void Dispose()
    {
        foreach (var packed in _packed)
        {
            packed?.Dispose();
        }

        _winograd?.Dispose();
    }
}
