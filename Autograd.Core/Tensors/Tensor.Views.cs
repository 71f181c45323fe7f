using System.Runtime.CompilerServices;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// Views: new shape, strides and offset over the same storage, no copy. Each is differentiable:
/// its VJP maps the output gradient back to the input's shape.
/// </summary>
public sealed partial class Tensor<T>
{
    /// <summary>A tensor over this storage with the given geometry (no checks, no recording).</summary>
    internal Tensor<T> ViewOf(int[] shape, int[] strides, int offset) => new(_storage, shape, strides, offset);

    /// <summary>
    /// The same elements in a new shape (one size may be -1 and is inferred): a view when the strides
    /// allow, else a contiguous copy, as PyTorch's reshape.
    /// </summary>
    /// <remarks>A params call carries no call site (C# allows nothing after params); the overloads of one to four sizes do.</remarks>
    public Tensor<T> Reshape(params int[] shape) => ReshapeCore(shape, CallSite.Unknown);

    /// <inheritdoc cref="Reshape(int[])"/>
    public Tensor<T> Reshape(int d0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ReshapeCore([d0], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Reshape(int[])"/>
    public Tensor<T> Reshape(int d0, int d1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ReshapeCore([d0, d1], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Reshape(int[])"/>
    public Tensor<T> Reshape(int d0, int d1, int d2, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ReshapeCore([d0, d1, d2], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Reshape(int[])"/>
    public Tensor<T> Reshape(int d0, int d1, int d2, int d3, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ReshapeCore([d0, d1, d2, d3], new CallSite(callerFile, callerLine));

    private Tensor<T> ReshapeCore(int[] shape, CallSite site)
    {
        var target = InferShape(shape, "Reshape");
        var strides = ViewStrides(target);
        return strides is not null ? RecordReshape("Reshape", target, strides, site) : Clone("Contiguous", site, IsContiguous).ViewCore(target, site);
    }

    /// <summary>Like <see cref="Reshape(int[])"/> but never copies: throws when the strides do not allow a view.</summary>
    /// <remarks>A params call carries no call site; the overloads of one to four sizes do.</remarks>
    public Tensor<T> View(params int[] shape) => ViewCore(shape, CallSite.Unknown);

    /// <inheritdoc cref="View(int[])"/>
    public Tensor<T> View(int d0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ViewCore([d0], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="View(int[])"/>
    public Tensor<T> View(int d0, int d1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ViewCore([d0, d1], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="View(int[])"/>
    public Tensor<T> View(int d0, int d1, int d2, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ViewCore([d0, d1, d2], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="View(int[])"/>
    public Tensor<T> View(int d0, int d1, int d2, int d3, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ViewCore([d0, d1, d2, d3], new CallSite(callerFile, callerLine));

    private Tensor<T> ViewCore(int[] shape, CallSite site)
    {
        var target = InferShape(shape, "View");
        var strides = ViewStrides(target) ?? throw new ArgumentException(
            $"View: a tensor of shape {ShapeMath.Format(_shape)} with strides {ShapeMath.Format(_strides)} cannot be viewed as {ShapeMath.Format(target)} without a copy; use Reshape.",
            nameof(shape));
        return RecordReshape("View", target, strides, site);
    }

    /// <summary>Flattens dimensions startDim..endDim into one.</summary>
    public Tensor<T> Flatten(int startDim = 0, int endDim = -1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        var site = new CallSite(callerFile, callerLine);
        if (Rank == 0)
        {
            return ReshapeCore([1], site);
        }

        var s = ShapeMath.NormalizeDim(startDim, Rank, "Flatten", nameof(startDim), _shape);
        var e = ShapeMath.NormalizeDim(endDim, Rank, "Flatten", nameof(endDim), _shape);
        if (s > e)
        {
            throw new ArgumentException($"Flatten: startDim {startDim} comes after endDim {endDim} (shape {ShapeMath.Format(_shape)}).", nameof(startDim));
        }

        var shape = new List<int>();
        shape.AddRange(_shape[..s]);
        var n = 1;
        for (var i = s; i <= e; i++)
        {
            n *= _shape[i];
        }

        shape.Add(n);
        shape.AddRange(_shape[(e + 1)..]);
        return ReshapeCore([.. shape], site);
    }

    /// <summary>Inserts a dimension of size 1 at <paramref name="dim"/>.</summary>
    public Tensor<T> Unsqueeze(int dim, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        var d = ShapeMath.NormalizeDim(dim, Rank + 1, "Unsqueeze", "dim", _shape);
        var shape = new List<int>(_shape);
        var strides = new List<int>(_strides);
        shape.Insert(d, 1);
        strides.Insert(d, d < Rank ? _strides[d] * _shape[d] : 1);
        return RecordReshape("Unsqueeze", [.. shape], [.. strides], new CallSite(callerFile, callerLine));
    }

    /// <summary>Removes dimension <paramref name="dim"/> when its size is 1 (otherwise returns the tensor as a view).</summary>
    public Tensor<T> Squeeze(int dim, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        var d = ShapeMath.NormalizeDim(dim, Rank, "Squeeze", "dim", _shape);
        if (Rank == 0 || _shape[d] != 1)
        {
            return RecordReshape("Squeeze", _shape, _strides, new CallSite(callerFile, callerLine));
        }

        var shape = new List<int>(_shape);
        var strides = new List<int>(_strides);
        shape.RemoveAt(d);
        strides.RemoveAt(d);
        return RecordReshape("Squeeze", [.. shape], [.. strides], new CallSite(callerFile, callerLine));
    }

    /// <summary>Removes every dimension of size 1 (PyTorch's <c>x.squeeze()</c>; a view).</summary>
    public Tensor<T> Squeeze([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        var kept = Enumerable.Range(0, Rank).Where(d => _shape[d] != 1).ToArray();
        return RecordReshape("Squeeze", [.. kept.Select(d => _shape[d])], [.. kept.Select(d => _strides[d])], new CallSite(callerFile, callerLine));
    }

    /// <summary>Swaps two dimensions (a view).</summary>
    public Tensor<T> Transpose(int dim0, int dim1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        var a = ShapeMath.NormalizeDim(dim0, Rank, "Transpose", nameof(dim0), _shape);
        var b = ShapeMath.NormalizeDim(dim1, Rank, "Transpose", nameof(dim1), _shape);
        var perm = new int[Rank];
        for (var i = 0; i < perm.Length; i++)
        {
            perm[i] = i;
        }

        if (Rank > 0)
        {
            (perm[a], perm[b]) = (perm[b], perm[a]);
        }

        return PermuteCore(perm, "Transpose", new CallSite(callerFile, callerLine));
    }

    /// <summary>Reorders the dimensions: output dimension i is input dimension dims[i] (a view).</summary>
    /// <remarks>A params call carries no call site; the overloads of two to four dims do.</remarks>
    public Tensor<T> Permute(params int[] dims) => PermuteChecked(dims, CallSite.Unknown);

    /// <inheritdoc cref="Permute(int[])"/>
    public Tensor<T> Permute(int d0, int d1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => PermuteChecked([d0, d1], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Permute(int[])"/>
    public Tensor<T> Permute(int d0, int d1, int d2, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => PermuteChecked([d0, d1, d2], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Permute(int[])"/>
    public Tensor<T> Permute(int d0, int d1, int d2, int d3, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => PermuteChecked([d0, d1, d2, d3], new CallSite(callerFile, callerLine));

    private Tensor<T> PermuteChecked(int[] dims, CallSite site)
    {
        ArgumentNullException.ThrowIfNull(dims);
        if (dims.Length != Rank)
        {
            throw new ArgumentException($"Permute: {dims.Length} dims given for a tensor of shape {ShapeMath.Format(_shape)}.", nameof(dims));
        }

        var perm = new int[Rank];
        var seen = new bool[Rank];
        for (var i = 0; i < Rank; i++)
        {
            perm[i] = ShapeMath.NormalizeDim(dims[i], Rank, "Permute", nameof(dims), _shape);
            if (seen[perm[i]])
            {
                throw new ArgumentException($"Permute: dimension {dims[i]} appears twice in {ShapeMath.Format(dims)} (shape {ShapeMath.Format(_shape)}).", nameof(dims));
            }

            seen[perm[i]] = true;
        }

        return PermuteCore(perm, "Permute", site);
    }

    private Tensor<T> PermuteCore(int[] perm, string op, CallSite site = default)
    {
        var shape = new int[Rank];
        var strides = new int[Rank];
        var inverse = new int[Rank];
        for (var i = 0; i < Rank; i++)
        {
            shape[i] = _shape[perm[i]];
            strides[i] = _strides[perm[i]];
            inverse[perm[i]] = i;
        }

        var result = ViewOf(shape, strides, _offset);
        if (OpTrace.IsActive)
        {
            OpTrace.Add("Transpose", result, [this], ("perm", perm.Clone()));
        }

        if (Tape.ShouldRecord(this))
        {
            // d/dx of a permutation is the inverse permutation of the gradient.
            Tape.Record(op, site, result, [this], (g, grads) => grads[0] = g.PermuteCore(inverse, op));
        }

        return result;
    }

    /// <summary>
    /// Elements start, start+step, ... (before end) of one dimension, as Python's x[start:end:step]:
    /// negative indices count from the end and out-of-range bounds are clamped. A view.
    /// </summary>
    public Tensor<T> Slice(int dim, int start, int end, int step = 1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        var d = ShapeMath.NormalizeDim(dim, Rank, "Slice", "dim", _shape);
        if (Rank == 0)
        {
            throw new ArgumentException("Slice: cannot slice a rank-0 tensor (shape []).", nameof(dim));
        }

        if (step <= 0)
        {
            throw new ArgumentException($"Slice: step must be positive, got {step} (shape {ShapeMath.Format(_shape)}).", nameof(step));
        }

        var size = _shape[d];
        var s = Math.Clamp(start < 0 ? start + size : start, 0, size);
        var e = Math.Clamp(end < 0 ? end + size : end, 0, size);
        var length = e > s ? (e - s + step - 1) / step : 0;
        var shape = (int[])_shape.Clone();
        var strides = (int[])_strides.Clone();
        shape[d] = length;
        strides[d] = _strides[d] * step;
        return RecordSubView("Slice", shape, strides, _offset + s * _strides[d], t => t.Slice(d, s, e, step), new CallSite(callerFile, callerLine), ("dim", d), ("start", s), ("end", e), ("step", step));
    }

    /// <summary>Elements start..start+length-1 of one dimension (a view); throws when out of range.</summary>
    public Tensor<T> Narrow(int dim, int start, int length, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        if (Rank == 0)
        {
            throw new ArgumentException("Narrow: cannot narrow a rank-0 tensor (shape []).", nameof(dim));
        }

        var d = ShapeMath.NormalizeDim(dim, Rank, "Narrow", "dim", _shape);
        var size = _shape[d];
        if (start < 0 || length < 0 || start > size || length > size - start)
        {
            throw new ArgumentException(
                $"Narrow: start {start} and length {length} do not fit dimension {d} of size {size} (shape {ShapeMath.Format(_shape)}).",
                nameof(start));
        }

        var shape = (int[])_shape.Clone();
        shape[d] = length;
        return RecordSubView("Narrow", shape, (int[])_strides.Clone(), _offset + start * _strides[d], t => t.Narrow(d, start, length), new CallSite(callerFile, callerLine), ("dim", d), ("start", start), ("end", start + length), ("step", 1));
    }

    /// <summary>The slice at <paramref name="index"/> of one dimension, with that dimension removed (x[:, i] in Python).</summary>
    public Tensor<T> Select(int dim, int index, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        if (Rank == 0)
        {
            throw new ArgumentException("Select: cannot index a rank-0 tensor (shape []).", nameof(dim));
        }

        var d = ShapeMath.NormalizeDim(dim, Rank, "Select", "dim", _shape);
        var size = _shape[d];
        var i = index < 0 ? index + size : index;
        if ((uint)i >= (uint)size)
        {
            throw new ArgumentException($"Select: index {index} is out of range for dimension {d} of size {size} (shape {ShapeMath.Format(_shape)}).", nameof(index));
        }

        var shape = new List<int>(_shape);
        var strides = new List<int>(_strides);
        shape.RemoveAt(d);
        strides.RemoveAt(d);
        return RecordSubView("Select", [.. shape], [.. strides], _offset + i * _strides[d], t => t.Select(d, i), new CallSite(callerFile, callerLine), ("dim", d), ("index", i));
    }

    /// <summary>
    /// Broadcasts to a larger shape without copying: size-1 dimensions get stride 0 and new leading
    /// dimensions may be added; -1 keeps a size. The VJP sums over the broadcast dimensions.
    /// </summary>
    /// <remarks>A params call carries no call site; the overloads of one to four sizes do.</remarks>
    public Tensor<T> Expand(params int[] shape) => ExpandCore(shape, CallSite.Unknown);

    /// <inheritdoc cref="Expand(int[])"/>
    public Tensor<T> Expand(int d0, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ExpandCore([d0], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Expand(int[])"/>
    public Tensor<T> Expand(int d0, int d1, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ExpandCore([d0, d1], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Expand(int[])"/>
    public Tensor<T> Expand(int d0, int d1, int d2, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ExpandCore([d0, d1, d2], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Expand(int[])"/>
    public Tensor<T> Expand(int d0, int d1, int d2, int d3, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => ExpandCore([d0, d1, d2, d3], new CallSite(callerFile, callerLine));

    private Tensor<T> ExpandCore(int[] shape, CallSite site)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var lead = shape.Length - Rank;
        if (lead < 0)
        {
            throw new ArgumentException($"Expand: target {ShapeMath.Format(shape)} has fewer dimensions than the tensor's shape {ShapeMath.Format(_shape)}.", nameof(shape));
        }

        var target = new int[shape.Length];
        var strides = new int[shape.Length];
        for (var i = 0; i < shape.Length; i++)
        {
            var want = shape[i];
            if (i < lead)
            {
                if (want < 0)
                {
                    throw new ArgumentException($"Expand: a new leading dimension cannot be -1 (shape {ShapeMath.Format(_shape)} to {ShapeMath.Format(shape)}).", nameof(shape));
                }

                target[i] = want;
                strides[i] = 0;
                continue;
            }

            var have = _shape[i - lead];
            if (want == -1 || want == have)
            {
                target[i] = have;
                strides[i] = have == 1 ? 0 : _strides[i - lead];
            }
            else if (have == 1 && want >= 0)
            {
                target[i] = want;
                strides[i] = 0;
            }
            else
            {
                throw new ArgumentException(
                    $"Expand: dimension {i} of size {have} cannot be expanded to {want} (shape {ShapeMath.Format(_shape)} to {ShapeMath.Format(shape)}); only size-1 dimensions expand.",
                    nameof(shape));
            }
        }

        ShapeMath.Numel(target, "Expand");
        var result = ViewOf(target, strides, _offset);
        if (OpTrace.IsActive)
        {
            OpTrace.Add("Expand", result, [this]);
        }

        if (Tape.ShouldRecord(this))
        {
            var inputShape = _shape;
            Tape.Record("Expand", site, result, [this], (g, grads) => grads[0] = g.SumToSize(inputShape));
        }

        return result;
    }

    /// <summary>
    /// Sums over the dimensions that broadcasting would expand, giving <paramref name="shape"/>
    /// (PyTorch's sum_to_size). It is the VJP of every broadcast.
    /// </summary>
    public Tensor<T> SumToSize(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (ShapeMath.SameShape(shape, _shape))
        {
            return this;
        }

        var target = (int[])shape.Clone();
        ShapeMath.Numel(target, "SumToSize");
        if (target.Length > Rank || !ShapeMath.SameShape(ShapeMath.Broadcast(target, _shape, "SumToSize"), _shape))
        {
            throw new ArgumentException($"SumToSize: shape {ShapeMath.Format(_shape)} cannot be summed to {ShapeMath.Format(target)}.", nameof(shape));
        }

        // Accumulate through the target's strides as broadcast to our shape: stride 0 on the summed dims.
        var result = ZeroFilled(target);
        var broadcastStrides = result.BroadcastStridesTo(_shape, "SumToSize");
        Strided.Accumulate(result._storage.Span, 0, broadcastStrides, _storage.Span, _offset, _strides, _shape);
        GC.KeepAlive(this);
        if (Tape.ShouldRecord(this))
        {
            var inputShape = _shape;
            Tape.Record("SumToSize", result, [this], (g, grads) => grads[0] = g.Expand(inputShape));
        }

        return result;
    }

    /// <summary>
    /// A view with explicit geometry over this tensor's storage, as PyTorch's as_strided: element
    /// [i0, ...] is storage[storageOffset + Σ ik·strides[k]] (storageOffset defaults to this tensor's
    /// offset). Strides must be non-negative and every element must fall inside the storage.
    /// </summary>
    public Tensor<T> AsStrided(int[] shape, int[] strides, int? storageOffset = null, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(strides);
        var offset = storageOffset ?? _offset;
        if (shape.Length != strides.Length)
        {
            throw new ArgumentException($"AsStrided: shape {ShapeMath.Format(shape)} and strides {ShapeMath.Format(strides)} differ in length.", nameof(strides));
        }

        ShapeMath.Numel(shape, "AsStrided");
        foreach (var s in strides)
        {
            if (s < 0)
            {
                throw new ArgumentException($"AsStrided: strides {ShapeMath.Format(strides)} must be non-negative (shape {ShapeMath.Format(shape)} of a tensor of shape {ShapeMath.Format(_shape)}).", nameof(strides));
            }
        }

        var (lo, hi) = Strided.Extent(shape, strides, offset);
        if (offset < 0 || offset > _storage.Length || (hi >= lo && (lo < 0 || hi >= _storage.Length)))
        {
            throw new ArgumentException(
                $"AsStrided: shape {ShapeMath.Format(shape)}, strides {ShapeMath.Format(strides)} and offset {offset} reach element {hi}, "
                + $"outside the storage of {_storage.Length} elements (tensor shape {ShapeMath.Format(_shape)}).",
                nameof(shape));
        }

        var result = ViewOf((int[])shape.Clone(), (int[])strides.Clone(), offset);
        if (Tape.ShouldRecord(this))
        {
            var input = this;
            Tape.Record("AsStrided", new CallSite(callerFile, callerLine), result, [this], (g, grads) => grads[0] = AsStridedBackward(input, result, g));
        }

        return result;
    }

    /// <summary>
    /// Scatter-adds the gradient into a zero buffer the size of the storage through the output's
    /// geometry, then reads it back through the input's geometry. Storage elements the input sees
    /// several times (a stride-0 input) share their gradient equally, as in PyTorch. Both steps are
    /// recorded ops, adjoint to each other, so the gradient is differentiable again.
    /// </summary>
    private static Tensor<T> AsStridedBackward(Tensor<T> input, Tensor<T> output, Tensor<T> g)
    {
        var length = input._storage.Length;
        T[]? share = null;
        if (!Strided.IsNonOverlapping(input._shape, input._strides))
        {
            // share[p] = 1 / (how many elements of the input read storage position p).
            share = new T[length];
            var one = new Tensor<T>([T.One], []);
            Strided.Accumulate(share, input._offset, input._strides, one._storage.Span, 0, new int[input.Rank], input._shape);
            for (var i = 0; i < length; i++)
            {
                share[i] = share[i] > T.One ? T.One / share[i] : T.One;
            }
        }

        var buffer = StridedScatter(g, length, new(output._shape, output._strides, output._offset), share);
        return StridedGather(buffer, new(input._shape, input._strides, input._offset), null);
    }

    /// <summary>Shape, strides and offset of a strided read from a flat buffer.</summary>
    internal readonly record struct Geometry(int[] Shape, int[] Strides, int Offset);

    /// <summary>
    /// buffer[p] = w[p] · Σ_{i : at(i) = p} src[i] for a fresh zero buffer of <paramref name="length"/>, where at(i) is
    /// <paramref name="at"/>'s storage position of element i (w = 1 when <paramref name="weights"/> is null).
    /// Recorded: its VJP is <see cref="StridedGather"/> with the same geometry and weights, its adjoint.
    /// </summary>
    internal static Tensor<T> StridedScatter(Tensor<T> src, int length, Geometry at, T[]? weights)
    {
        var result = ZeroFilled([length]);
        var buffer = result._storage.Span;
        Strided.Accumulate(buffer, at.Offset, at.Strides, src._storage.Span, src._offset, src._strides, at.Shape);
        if (weights is not null)
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(buffer, weights, buffer);
        }

        GC.KeepAlive(src);
        if (Tape.ShouldRecord(src))
        {
            Tape.Record("StridedScatter", result, [src], (g, grads) => grads[0] = StridedGather(g, at, weights));
        }

        return result;
    }

    /// <summary>
    /// out[i] = w[at(i)] · buffer[at(i)] for a 1-D <paramref name="buffer"/> (any strides): the adjoint of
    /// <see cref="StridedScatter"/>, recorded with it as its VJP.
    /// </summary>
    internal static Tensor<T> StridedGather(Tensor<T> buffer, Geometry at, T[]? weights)
    {
        var flat = buffer.IsContiguous && weights is null ? buffer : buffer.ContiguousCopy();
        if (weights is not null)
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply(flat._storage.Span, weights, flat._storage.Span);
        }

        var result = Uninitialized((int[])at.Shape.Clone());
        Strided.Copy(result._storage.Span, 0, result._strides, flat._storage.Span, flat._offset + at.Offset, at.Strides, at.Shape);
        GC.KeepAlive(flat);
        if (Tape.ShouldRecord(buffer))
        {
            var length = buffer._shape[0];
            Tape.Record("StridedGather", result, [buffer], (g, grads) => grads[0] = StridedScatter(g, length, at, weights));
        }

        return result;
    }

    /// <summary>This tensor when already contiguous, else a contiguous copy (differentiable).</summary>
    public Tensor<T> Contiguous([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => Clone("Contiguous", new CallSite(callerFile, callerLine), IsContiguous);

    /// <summary>A contiguous copy with its own storage (differentiable, gradient passes through).</summary>
    public Tensor<T> Clone([CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => Clone("Clone", new CallSite(callerFile, callerLine), false);

    private Tensor<T> Clone(string op, CallSite site, bool unlessContiguous)
    {
        if (unlessContiguous)
        {
            return this;
        }

        var result = ContiguousCopy();
        if (OpTrace.IsActive)
        {
            OpTrace.Add("Identity", result, [this]);
        }

        if (Tape.ShouldRecord(this))
        {
            Tape.Record(op, site, result, [this], static (g, grads) => grads[0] = g);
        }

        return result;
    }

    private Tensor<T> RecordReshape(string op, int[] shape, int[] strides, CallSite site)
    {
        var result = ViewOf(shape, strides, _offset);
        if (OpTrace.IsActive)
        {
            OpTrace.Add("Reshape", result, [this]);   // View, Reshape, Flatten, (Un)squeeze: the output's shape says it all
        }

        if (Tape.ShouldRecord(this))
        {
            var inputShape = _shape;
            Tape.Record(op, site, result, [this], (g, grads) => grads[0] = g.Reshape(inputShape));
        }

        return result;
    }

    /// <summary>
    /// Records a view that picks a subset of the elements. Its VJP makes zeros of the input's shape
    /// and adds the gradient into the same view of them (<paramref name="sameView"/>).
    /// </summary>
    private Tensor<T> RecordSubView(string op, int[] shape, int[] strides, int offset, Func<Tensor<T>, Tensor<T>> sameView, CallSite site, params (string, object?)[] traced)
    {
        var result = ViewOf(shape, strides, offset);
        if (OpTrace.IsActive)
        {
            OpTrace.Add(op == "Select" ? "Select" : "Slice", result, [this], traced);
        }

        if (Tape.ShouldRecord(this))
        {
            Tape.Record(result, new SubViewNode<T>(op, site, this, sameView));
        }

        return result;
    }

    /// <summary>
    /// Zeros of the input's shape with <paramref name="g"/> added into the same view of them. Recorded when
    /// g requires grad (createGraph): that op's VJP is the view again, so view gradients stay differentiable.
    /// </summary>
    internal static Tensor<T> SubViewBackward(Tensor<T> g, int[] inputShape, Func<Tensor<T>, Tensor<T>> sameView, string op)
    {
        var zeros = ZeroFilled((int[])inputShape.Clone());
        AccumulateIntoView(zeros, g, sameView);
        if (Tape.ShouldRecord(g))
        {
            Tape.Record($"{op}Backward", zeros, [g], (gg, grads) => grads[0] = sameView(gg));
        }

        return zeros;
    }

    /// <summary>Adds <paramref name="g"/> into <paramref name="sameView"/> of <paramref name="total"/>, in place, unrecorded.</summary>
    internal static void AccumulateIntoView(Tensor<T> total, Tensor<T> g, Func<Tensor<T>, Tensor<T>> sameView)
    {
        var view = sameView(total);
        Strided.Accumulate(total._storage.Span, view._offset, view._strides, g._storage.Span, g._offset, g._strides, view._shape);
        GC.KeepAlive(g);
    }

    private int[] InferShape(int[] shape, string op)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var target = (int[])shape.Clone();
        var infer = -1;
        long known = 1;
        for (var i = 0; i < target.Length; i++)
        {
            if (target[i] == -1)
            {
                if (infer >= 0)
                {
                    throw new ArgumentException($"{op}: only one dimension can be -1 in {ShapeMath.Format(shape)} (shape {ShapeMath.Format(_shape)}).", nameof(shape));
                }

                infer = i;
            }
            else if (target[i] < 0)
            {
                throw new ArgumentException($"{op}: invalid size {target[i]} in {ShapeMath.Format(shape)} (shape {ShapeMath.Format(_shape)}).", nameof(shape));
            }
            else
            {
                known *= target[i];
            }
        }

        var numel = Numel;
        if (infer >= 0)
        {
            if (known == 0 || numel % known != 0)
            {
                throw new ArgumentException($"{op}: shape {ShapeMath.Format(shape)} is invalid for a tensor of {numel} elements (shape {ShapeMath.Format(_shape)}).", nameof(shape));
            }

            target[infer] = (int)(numel / known);
        }
        else if (known != numel)
        {
            throw new ArgumentException($"{op}: shape {ShapeMath.Format(shape)} is invalid for a tensor of {numel} elements (shape {ShapeMath.Format(_shape)}).", nameof(shape));
        }

        return target;
    }

    /// <summary>
    /// Strides that let the current elements be read in the new shape without a copy, or null.
    /// Dimensions are grouped into chunks that are contiguous among themselves; each chunk must be
    /// split or merged exactly by the new shape (PyTorch's computeStride).
    /// </summary>
    private int[]? ViewStrides(int[] target)
    {
        if (IsContiguous || Numel == 0)
        {
            return ShapeMath.ContiguousStrides(target);
        }

        var newStrides = new int[target.Length];
        var viewD = target.Length - 1;
        long chunkBase = _strides[^1];
        long tensorNumel = 1;
        long viewNumel = 1;
        for (var d = Rank - 1; d >= 0; d--)
        {
            tensorNumel *= _shape[d];
            if (d == 0 || (_shape[d - 1] != 1 && _strides[d - 1] != tensorNumel * chunkBase))
            {
                while (viewD >= 0 && (viewNumel < tensorNumel || target[viewD] == 1))
                {
                    newStrides[viewD] = (int)(viewNumel * chunkBase);
                    viewNumel *= target[viewD];
                    viewD--;
                }

                if (viewNumel != tensorNumel)
                {
                    return null;
                }

                if (d > 0)
                {
                    chunkBase = _strides[d - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }

        return viewD == -1 ? newStrides : null;
    }
}
