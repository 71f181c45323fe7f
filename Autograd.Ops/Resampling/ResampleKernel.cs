using System.Numerics;
using System.Numerics.Tensors;

namespace Autograd.Kernels;

/// <summary>
/// One dimension of an interpolation as a sparse linear map A [out, in] with at most two entries per row:
/// y[b, o, k] = λ₀[o]·x[b, i₀[o], k] + λ₁[o]·x[b, i₁[o], k] over a contiguous [outer, in, inner] layout (nearest:
/// one entry of weight 1), and its transpose dx[b, i, k] = Σ_{o: iⱼ[o] = i} λⱼ[o]·g[b, o, k]. Rows of the inner
/// dimensions are whole spans (TensorPrimitives); along the last dimension (inner = 1) it is a gather.
/// </summary>
internal sealed class ResampleKernel<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly int[] _i0;
    private readonly int[]? _i1;
    private readonly T[]? _l0;
    private readonly T[]? _l1;

    /// <summary>Nearest (<paramref name="l0"/> null: weight 1, no second entry) or linear.</summary>
    public ResampleKernel(int inSize, int[] i0, T[]? l0, int[]? i1, T[]? l1)
    {
        InSize = inSize;
        (_i0, _l0, _i1, _l1) = (i0, l0, i1, l1);
    }

    public int InSize { get; }

    public int OutSize => _i0.Length;

    /// <summary>y = A·x along the middle dimension of [outer, in, inner] into [outer, out, inner].</summary>
    public void Forward(ReadOnlySpan<T> x, Span<T> y, int outer, int inner)
    {
        var (n, m) = (InSize * inner, OutSize * inner);
        for (var b = 0; b < outer; b++)
        {
            var xb = x.Slice(b * n, n);
            var yb = y.Slice(b * m, m);
            if (inner == 1)
            {
                for (var o = 0; o < yb.Length; o++)
                {
                    // λ₀·x₀ + λ₁·x₁ in this order: PyTorch's sum.
                    yb[o] = _l0 is null ? xb[_i0[o]] : (xb[_i0[o]] * _l0[o]) + (xb[_i1![o]] * _l1![o]);
                }

                continue;
            }

            for (var o = 0; o < OutSize; o++)
            {
                var dst = yb.Slice(o * inner, inner);
                var src0 = xb.Slice(_i0[o] * inner, inner);
                if (_l0 is null)
                {
                    src0.CopyTo(dst);
                }
                else
                {
                    TensorPrimitives.Multiply(src0, _l0[o], dst);
                    TensorPrimitives.MultiplyAdd(xb.Slice(_i1![o] * inner, inner), _l1![o], dst, dst);
                }
            }
        }
    }

    /// <summary>dx += Aᵀ·g along the middle dimension: <paramref name="dx"/> [outer, in, inner] must start zeroed.</summary>
    public void Backward(ReadOnlySpan<T> g, Span<T> dx, int outer, int inner)
    {
        var (n, m) = (InSize * inner, OutSize * inner);
        for (var b = 0; b < outer; b++)
        {
            var gb = g.Slice(b * m, m);
            var db = dx.Slice(b * n, n);
            if (inner == 1)
            {
                for (var o = 0; o < gb.Length; o++)
                {
                    if (_l0 is null)
                    {
                        db[_i0[o]] += gb[o];
                    }
                    else
                    {
                        db[_i0[o]] += gb[o] * _l0[o];
                        db[_i1![o]] += gb[o] * _l1![o];
                    }
                }

                continue;
            }

            for (var o = 0; o < OutSize; o++)
            {
                var src = gb.Slice(o * inner, inner);
                var dst0 = db.Slice(_i0[o] * inner, inner);
                if (_l0 is null)
                {
                    TensorPrimitives.Add(dst0, src, dst0);
                }
                else
                {
                    TensorPrimitives.MultiplyAdd(src, _l0[o], dst0, dst0);
                    var dst1 = db.Slice(_i1![o] * inner, inner);
                    TensorPrimitives.MultiplyAdd(src, _l1![o], dst1, dst1);
                }
            }
        }
    }
}
