using System.Runtime.CompilerServices;

namespace Autograd;

/// <summary>
/// Python-style indexing. <c>x[i, 1..3, ..]</c> is a view made of the recorded views Select, Slice and
/// Unsqueeze, so it is differentiable and never copies; <c>x[0, 1]</c> is a rank-0 view (read it with
/// <see cref="Item"/> or a cast). Element access by position is <see cref="At"/>, which returns the value.
/// </summary>
public sealed partial class Tensor<T>
{
    /// <summary>
    /// A view selected by integers (remove the dimension), ranges and slices (keep it),
    /// <see cref="TensorIndex.Ellipsis"/> and <see cref="TensorIndex.NewAxis"/>, as PyTorch's basic indexing.
    /// </summary>
    [IndexerName("Index")]
    public Tensor<T> this[params TensorIndex[] indices]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(indices);
            var consumed = 0;
            var ellipsis = -1;
            for (var i = 0; i < indices.Length; i++)
            {
                switch (indices[i]._kind)
                {
                    case TensorIndex.IndexKind.Ellipsis when ellipsis >= 0:
                        throw new ArgumentException($"Index: more than one Ellipsis in [{string.Join(", ", indices)}].", nameof(indices));
                    case TensorIndex.IndexKind.Ellipsis:
                        ellipsis = i;
                        break;
                    case TensorIndex.IndexKind.Single or TensorIndex.IndexKind.Slice:
                        consumed++;
                        break;
                }
            }

            if (consumed > Rank)
            {
                throw new ArgumentException($"Index: {consumed} indices for a tensor of shape {ShapeMath.Format(_shape)} ([{string.Join(", ", indices)}]).", nameof(indices));
            }

            // An indexer cannot take caller information: line 0 records these views without a call site
            // rather than with this file's line.
            var result = this;
            var dim = 0;
            foreach (var index in indices)
            {
                switch (index._kind)
                {
                    case TensorIndex.IndexKind.Ellipsis:
                        dim += Rank - consumed;
                        break;
                    case TensorIndex.IndexKind.NewAxis:
                        result = result.Unsqueeze(dim++, callerLine: 0);
                        break;
                    case TensorIndex.IndexKind.Single:
                    {
                        var size = result._shape[dim];
                        var at = index._single.IsFromEnd ? size - index._single.Value : index._single.Value;
                        if ((uint)at >= (uint)size)
                        {
                            throw new ArgumentException(
                                $"Index: index {index} is out of range for dimension {dim} of size {size} (shape {ShapeMath.Format(_shape)}).", nameof(indices));
                        }

                        result = result.Select(dim, at, callerLine: 0);
                        break;
                    }

                    default:
                    {
                        var size = result._shape[dim];
                        var start = index._start is { } s ? (s.IsFromEnd ? size - s.Value : s.Value) : 0;
                        var end = index._end is { } e ? (e.IsFromEnd ? size - e.Value : e.Value) : size;
                        if (index._step != 1 || start > 0 || end < size)
                        {
                            // Slice clamps like Python; a full range is the tensor itself (no node recorded).
                            result = result.Slice(dim, Math.Max(start, 0), Math.Max(end, 0), index._step, callerLine: 0);
                        }

                        dim++;
                        break;
                    }
                }
            }

            return result;
        }
    }

    /// <summary>One element by its full index (negative indices count from the end).</summary>
    public T At(params int[] index)
    {
        ArgumentNullException.ThrowIfNull(index);
        if (index.Length != Rank)
        {
            throw new ArgumentException($"At: {index.Length} indices for a tensor of shape {ShapeMath.Format(_shape)}.", nameof(index));
        }

        var at = _offset;
        for (var i = 0; i < index.Length; i++)
        {
            var k = index[i] < 0 ? index[i] + _shape[i] : index[i];
            if ((uint)k >= (uint)_shape[i])
            {
                throw new ArgumentException($"At: index {index[i]} is out of range for dimension {i} of shape {ShapeMath.Format(_shape)}.", nameof(index));
            }

            at += k * _strides[i];
        }

        var value = _storage.Span[at];
        GC.KeepAlive(this);
        return value;
    }

    /// <summary>
    /// Boolean-mask indexing (PyTorch's <c>x[mask]</c>): the elements where <paramref name="mask"/> is non-zero,
    /// in row-major order, as a new 1-D tensor when the mask has this tensor's shape; with a mask over the
    /// leading dimensions (<c>[N]</c> for <c>[N, D]</c>) the selected rows, <c>[k, D]</c>. Masks are the 0/1
    /// tensors of <c>x &gt; 0f</c>, <c>Gt</c>, <c>Eq</c>. A copy, differentiable: VJP dx = zeros with g
    /// placed back at the selected positions (recorded, so differentiable again).
    /// </summary>
    [IndexerName("Index")]
    public Tensor<T> this[Tensor<T> mask]
    {
        get
        {
            ThrowIfNullArgument(mask, "Index", nameof(mask));
            var lead = mask.Rank;
            if (lead == 0 || lead > Rank || !mask._shape.AsSpan().SequenceEqual(_shape.AsSpan(0, lead)))
            {
                throw new ArgumentException(
                    $"Index: a mask of shape {ShapeMath.Format(mask._shape)} cannot index a tensor of shape {ShapeMath.Format(_shape)}; "
                    + "it needs the tensor's shape or that of its leading dimensions (MaskedSelect broadcasts).", nameof(mask));
            }

            var rest = _shape[lead..];
            var positions = SelectedPositions(mask, ShapeMath.Numel(rest));
            return GatherPositions(positions, [positions.Length / Math.Max(1, ShapeMath.Numel(rest)), .. rest], "Index", CallSite.ForOperator("indexer x[mask]"));
        }
    }

    /// <summary>
    /// The elements where <paramref name="mask"/> (broadcast to this tensor's shape) is non-zero, in row-major
    /// order, as a new 1-D tensor (PyTorch's <c>masked_select</c>). VJP: dx = zeros with g placed back at
    /// the selected positions.
    /// </summary>
    public Tensor<T> MaskedSelect(Tensor<T> mask, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        ThrowIfNullArgument(mask, "MaskedSelect", nameof(mask));
        var broadcast = mask._shape.AsSpan().SequenceEqual(_shape) ? mask : mask.ViewOf(_shape, mask.BroadcastStridesTo(_shape, "MaskedSelect"), mask._offset);
        var positions = SelectedPositions(broadcast, 1);
        return GatherPositions(positions, [positions.Length], "MaskedSelect", new CallSite(callerFile, callerLine));
    }

    /// <summary>Row-major positions of the elements of the blocks of <paramref name="block"/> elements whose mask element is non-zero (NaN counts as true).</summary>
    private static int[] SelectedPositions(Tensor<T> mask, int block)
    {
        var flags = mask.ToArray();
        var positions = new List<int>();
        for (var i = 0; i < flags.Length; i++)
        {
            if (flags[i] != T.Zero)
            {
                for (var j = 0; j < block; j++)
                {
                    positions.Add(i * block + j);
                }
            }
        }

        return [.. positions];
    }

    /// <summary>out[k] = x[positions[k]] (row-major positions), in <paramref name="shape"/>. Recorded; its VJP is <see cref="ScatterPositions"/>, its adjoint.</summary>
    private Tensor<T> GatherPositions(int[] positions, int[] shape, string op, CallSite site)
    {
        var result = Uninitialized(shape);
        var data = ToArray();
        var values = result.Data;
        for (var k = 0; k < positions.Length; k++)
        {
            values[k] = data[positions[k]];
        }

        if (Tape.ShouldRecord(this))
        {
            var inputShape = _shape;
            Tape.Record(op, site, result, [this], (g, grads) => grads[0] = g.ScatterPositions(positions, inputShape, op, site));
        }

        return result;
    }

    /// <summary>Zeros of <paramref name="shape"/> with this tensor's elements at the row-major positions (each once): the adjoint of <see cref="GatherPositions"/>.</summary>
    private Tensor<T> ScatterPositions(int[] positions, int[] shape, string op, CallSite site)
    {
        var result = ZeroFilled(shape);
        var data = ToArray();
        var values = result.Data;
        for (var k = 0; k < positions.Length; k++)
        {
            values[positions[k]] = data[k];
        }

        if (Tape.ShouldRecord(this))
        {
            var outputShape = _shape;
            Tape.Record(op + "Backward", site, result, [this], (g, grads) => grads[0] = g.GatherPositions(positions, outputShape, op, site));
        }

        return result;
    }

    /// <summary>The single element of a one-element tensor: <c>(float)loss</c> is <c>loss.Item()</c>.</summary>
    public static explicit operator T(Tensor<T> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return tensor.Item();
    }
}
