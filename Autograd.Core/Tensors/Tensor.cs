using System.Numerics;
using System.Text;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// An n-dimensional strided view of a <see cref="Storage{T}"/>, for <c>float</c> or <c>double</c>.
/// Element <c>[i0, i1, ...]</c> lives at <c>Offset + Σ ik·Strides[k]</c>. Views share storage;
/// every op in Autograd.Ops is an extension from outside this type.
/// </summary>
public sealed partial class Tensor<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Storage<T> _storage;
    private readonly int[] _shape;
    private readonly int[] _strides;
    private readonly int _offset;
    private bool _requiresGrad;
    private Tensor<T>? _grad;

    /// <summary>The tape node that produced this tensor; null for leaves and for tensors made without grad.</summary>
    internal Node<T>? _gradFn;

    static Tensor()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
        {
            throw new NotSupportedException($"Tensor<{typeof(T).Name}>: only float and double tensors are supported.");
        }
    }

    internal Tensor(Storage<T> storage, int[] shape, int[] strides, int offset)
    {
        _storage = storage;
        _shape = shape;
        _strides = strides;
        _offset = offset;
    }

    /// <summary>A contiguous tensor over a fresh (or given) buffer of exactly numel elements.</summary>
    internal Tensor(T[] data, int[] shape)
        : this(new Storage<T>(data), shape, ShapeMath.ContiguousStrides(shape), 0)
    {
    }

    /// <summary>A contiguous tensor over a storage of exactly numel elements (takes ownership of <paramref name="shape"/>).</summary>
    internal Tensor(Storage<T> storage, int[] shape)
        : this(storage, shape, ShapeMath.ContiguousStrides(shape), 0)
    {
    }

    /// <summary>
    /// A contiguous tensor over a pooled buffer whose elements are not initialised: the caller writes
    /// every one. Takes ownership of <paramref name="shape"/>.
    /// </summary>
    internal static Tensor<T> Uninitialized(int[] shape) => new(new Storage<T>(ShapeMath.Numel(shape), clear: false), shape);

    /// <summary>
    /// A contiguous tensor of <paramref name="like"/>'s shape over a pooled buffer whose elements are not
    /// initialised. Shape and stride arrays are never written after construction, so it shares
    /// <paramref name="like"/>'s shape array, and its strides too when they are the row-major ones: a
    /// one-element result of a tape of scalar ops allocates no arrays but its buffer.
    /// </summary>
    internal static Tensor<T> UninitializedLike(Tensor<T> like)
    {
        var shape = like._shape;
        var strides = like._strides;
        var expected = 1;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            if (strides[i] != expected)
            {
                strides = ShapeMath.ContiguousStrides(shape);
                break;
            }

            expected *= Math.Max(shape[i], 1);
        }

        return new(new Storage<T>(ShapeMath.Numel(shape), clear: false), shape, strides, 0);
    }

    /// <summary>A contiguous tensor of zeros over a pooled buffer. Takes ownership of <paramref name="shape"/>.</summary>
    internal static Tensor<T> ZeroFilled(int[] shape) => new(new Storage<T>(ShapeMath.Numel(shape), clear: true), shape);

    /// <summary>A contiguous pooled copy of this tensor's elements (not recorded).</summary>
    internal Tensor<T> ContiguousCopy()
    {
        var result = Uninitialized((int[])_shape.Clone());
        Strided.Copy(result._storage.Span, 0, result._strides, _storage.Span, _offset, _strides, _shape);
        GC.KeepAlive(this);
        return result;
    }

    /// <summary>The elements of a contiguous tensor, writable (kernels fill fresh results through this).</summary>
    internal Span<T> Data
    {
        get
        {
            System.Diagnostics.Debug.Assert(IsContiguous, "Data needs a contiguous tensor");
            return _storage.Span.Slice(_offset, Numel);
        }
    }

    /// <summary>
    /// The shape array itself, not a copy: shared with views and results (<see cref="UninitializedLike"/>) and
    /// never written. Code outside this type reads the layout through this and <see cref="StridesArray"/>.
    /// </summary>
    internal int[] ShapeArray => _shape;

    /// <summary>The strides array itself, not a copy: shared and never written, as <see cref="ShapeArray"/>.</summary>
    internal int[] StridesArray => _strides;

    /// <summary>
    /// Read access to the elements for a kernel, valid until the end of the <c>using</c> scope that holds it,
    /// which keeps this tensor (and its pooled buffer) alive: <c>using var xr = x.Read();</c>.
    /// </summary>
    internal TensorRead<T> Read() => new(this);

    /// <summary>Write access to the elements for a kernel, as <see cref="Read"/>; does not bump the version.</summary>
    internal TensorWrite<T> Write() => new(this);

    /// <summary>Notes one in-place write to this tensor's storage (every view of it sees the new version).</summary>
    internal void BumpVersion() => _storage.BumpVersion();

    /// <summary>Whether this tensor and <paramref name="other"/> are views of one storage.</summary>
    internal bool SharesStorage(Tensor<T> other) => ReferenceEquals(_storage, other._storage);

    /// <summary>Sizes of each dimension (a copy). To print or compare them, <see cref="Size()"/> (<c>[2, 3]</c>; an array prints as <c>System.Int32[]</c>).</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>The sizes as PyTorch's <c>x.size()</c>: a <see cref="Autograd.Size"/>, which prints as <c>[2, 3]</c> and compares by value.</summary>
    public Autograd.Size Size() => new(_shape);

    /// <summary>The size of dimension <paramref name="dim"/> (negative counts from the end), as PyTorch's <c>x.size(dim)</c>.</summary>
    public int Size(int dim) =>
        Rank > 0
            ? _shape[ShapeMath.NormalizeDim(dim, Rank, "Size", nameof(dim), _shape)]
            : throw new ArgumentException($"Size: dim {dim} given for a rank-0 tensor, which has no dimensions.", nameof(dim));

    /// <summary>Element steps of each dimension in the storage (a copy).</summary>
    public int[] Strides => (int[])_strides.Clone();

    /// <summary>Index of element [0, ..., 0] in <see cref="Storage"/>.</summary>
    public int Offset => _offset;

    public Storage<T> Storage => _storage;

    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public int Numel
    {
        get
        {
            var n = 1;
            foreach (var d in _shape)
            {
                n *= d;
            }

            return n;
        }
    }

    /// <summary>Row-major with no gaps: <see cref="ToArray"/> is a plain copy of the storage slice.</summary>
    public bool IsContiguous
    {
        get
        {
            var expected = 1;
            for (var i = _shape.Length - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expected)
                {
                    return false;
                }

                expected *= _shape[i];
            }

            return true;
        }
    }

    /// <summary>
    /// Whether gradients flow to this tensor. Set it on leaves (parameters, inputs); results of
    /// recorded ops require grad when any input does.
    /// </summary>
    public bool RequiresGrad
    {
        get => _requiresGrad;
        set
        {
            if (_gradFn is not null && !value)
            {
                throw new InvalidOperationException(
                    $"RequiresGrad: this tensor is the result of '{_gradFn.OpName}' and not a leaf; use Detach() to get a tensor without grad.");
            }

            _requiresGrad = value;
        }
    }

    /// <summary>True for tensors not produced by a recorded op (PyTorch's is_leaf).</summary>
    public bool IsLeaf => _gradFn is null;

    /// <summary>The node that recorded this tensor, for inspection (op name, release state).</summary>
    public Node? GradFn => _gradFn;

    /// <summary>
    /// Gradient accumulated by <see cref="Backward(Tensor{T}?, bool?, bool)"/> for a leaf that requires grad.
    /// Backward adds into it (in place) until it is cleared: set it to null or call <see cref="ZeroGrad"/>.
    /// Null for a leaf no gradient has reached (optimisers skip it, as PyTorch's).
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The tensor is not a leaf (the result of a recorded op), did not call <see cref="RetainGrad"/> and
    /// has no Grad: Backward never stores one there, so reading it is a mistake (PyTorch warns and returns
    /// None). The message says why and what to do, including for a parameter that an update outside
    /// <see cref="Tensor.NoGrad"/> turned into a non-leaf.
    /// </exception>
    public Tensor<T>? Grad
    {
        get => _grad is null && _gradFn is { } node && !ReferenceEquals(node.RetainGradOf, this) ? throw NonLeafGrad(node) : _grad;
        set
        {
            if (value is not null && !ShapeMath.SameShape(value._shape, _shape))
            {
                throw new ArgumentException(
                    $"Grad: gradient shape {ShapeMath.Format(value._shape)} does not match tensor shape {ShapeMath.Format(_shape)}.",
                    nameof(value));
            }

            _grad = value;
        }
    }

    private InvalidOperationException NonLeafGrad(Node node) => new(
        $"Grad: this tensor (shape {ShapeMath.Format(_shape)}) is the result of '{node.OpName}', not a leaf, so Backward() does not store its gradient. "
        + "To read it, call RetainGrad() on it before Backward(), or use Tensor.Grad(loss, tensor). "
        + "If it is a parameter that an update replaced (w = w - lr * w.Grad) outside Tensor.NoGrad(), that update recorded it as an op: "
        + "update parameters in place inside 'using (Tensor.NoGrad()) { w.AddInPlace(w.Grad, -lr); }' so they stay leaves. "
        + "To make a new leaf from a computed tensor, use Detach() and set RequiresGrad = true.");

    /// <summary>Sets <see cref="Grad"/> to zeros in place when it exists (PyTorch's zero_(), set_to_none=False).</summary>
    public void ZeroGrad()
    {
        if (_grad is not null)
        {
            _grad.FillInPlace(T.Zero);
        }
    }

    /// <summary>The single element of a one-element tensor.</summary>
    public T Item()
    {
        if (Numel != 1)
        {
            throw new InvalidOperationException($"Item: the tensor has {Numel} elements (shape {ShapeMath.Format(_shape)}); Item() needs exactly one.");
        }

        var value = _storage.Span[_offset];
        GC.KeepAlive(this);
        return value;
    }

    /// <summary>The elements in row-major order, whatever the strides (a copy).</summary>
    public T[] ToArray()
    {
        var result = Strided.ToContiguous(_storage.Span, _offset, _strides, _shape);
        GC.KeepAlive(this);   // the span does not keep the pooled buffer's lease alive (docs/architecture.md, "The memory boundary")
        return result;
    }

    /// <summary>In-place fill; bumps the storage version.</summary>
    internal void FillInPlace(T value)
    {
        Strided.Fill(_storage.Span, _offset, _strides, _shape, value);
        _storage.BumpVersion();
    }

    /// <summary>this += other, in place, with other broadcast to this shape; bumps the version.</summary>
    internal void AccumulateInPlace(Tensor<T> other)
    {
        var src = other.BroadcastStridesTo(_shape, "Accumulate");
        Strided.Accumulate(_storage.Span, _offset, _strides, other._storage.Span, other._offset, src, _shape);
        _storage.BumpVersion();
        GC.KeepAlive(other);
    }

    /// <summary>Strides that read this tensor as if expanded to <paramref name="shape"/> (0 on broadcast dims).</summary>
    internal int[] BroadcastStridesTo(ReadOnlySpan<int> shape, string op)
    {
        var lead = shape.Length - _shape.Length;
        if (lead < 0)
        {
            throw new ArgumentException($"{op}: cannot broadcast shape {ShapeMath.Format(_shape)} to {ShapeMath.Format(shape)}.");
        }

        var strides = new int[shape.Length];
        for (var i = 0; i < _shape.Length; i++)
        {
            if (_shape[i] == shape[lead + i])
            {
                strides[lead + i] = _shape[i] == 1 ? 0 : _strides[i];
            }
            else if (_shape[i] == 1)
            {
                strides[lead + i] = 0;
            }
            else
            {
                throw new ArgumentException($"{op}: cannot broadcast shape {ShapeMath.Format(_shape)} to {ShapeMath.Format(shape)}.");
            }
        }

        return strides;
    }

    /// <summary>
    /// PyTorch's text for the values (<c>tensor([[1., 2.], [3., 4.]])</c>, <c>1.0000e-06</c> when the range needs
    /// it, rows wrapped at 80 columns, large tensors summarised with <c>...</c>; see <see cref="TensorText"/>),
    /// then the shape (for other than short vectors), the dtype and the autograd state.
    /// </summary>
    public override string ToString()
    {
        var sb = new StringBuilder("tensor(");
        sb.Append(TensorText.Floats(ToArray(), _shape, "tensor(".Length));
        if (_shape.Length != 1 || _shape[0] > 6 || Numel == 0)
        {
            sb.Append(", shape=").Append(ShapeMath.Format(_shape));
        }

        sb.Append(", dtype=").Append(typeof(T) == typeof(float) ? "float32" : "float64");
        if (_gradFn is not null)
        {
            sb.Append(", gradFn=").Append(_gradFn.OpName);
        }
        else if (_requiresGrad)
        {
            sb.Append(", requiresGrad=true");
        }

        return sb.Append(')').ToString();
    }
}
