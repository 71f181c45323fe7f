using System.Numerics;
using Autograd.Kernels;

namespace Autograd.Nn;

// TEMPORARY until main's Autograd.Ops/InPlace.cs lands (INPLACE_API.md): delete this file after `git merge main`.
internal static class InPlaceShim
{
    public static Tensor<T> CopyFrom<T>(this Tensor<T> x, Tensor<T> src)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var strides = src.BroadcastStridesTo(x._shape, "CopyFrom");
        Strided.Copy(x._storage._data, x._offset, x._strides, src._storage._data, src._offset, strides, x._shape);
        x._storage._version++;
        return x;
    }
}
