namespace Autograd.Kernels;

/// <summary>
/// Walks up to three strided operands of one shape row by row. Size-1 dimensions are dropped and
/// adjacent dimensions that are contiguous in every operand are merged first, so a contiguous or
/// broadcast tensor is usually a single long row (and one TensorPrimitives call).
/// </summary>
/// <remarks>
/// Usage: <c>var c = new RowCursor(shape, s0, o0, s1, o1); while (c.MoveNext()) { row of c.Length at
/// c.Offset0 step c.Inner0 ... }</c>. Operands that are not used pass empty strides.
/// </remarks>
internal struct RowCursor
{
    private readonly int[] _outer;
    private readonly int[] _s0;
    private readonly int[] _s1;
    private readonly int[] _s2;
    private readonly int[] _index;
    private readonly int _base0;
    private readonly int _base1;
    private readonly int _base2;
    private long _rowsLeft;
    private bool _started;

    public readonly int Length;
    public readonly int Inner0;
    public readonly int Inner1;
    public readonly int Inner2;
    public int Offset0;
    public int Offset1;
    public int Offset2;

    public RowCursor(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides0, int offset0)
        : this(shape, strides0, offset0, [], 0, [], 0, 1)
    {
    }

    public RowCursor(ReadOnlySpan<int> shape, ReadOnlySpan<int> strides0, int offset0, ReadOnlySpan<int> strides1, int offset1)
        : this(shape, strides0, offset0, strides1, offset1, [], 0, 2)
    {
    }

    public RowCursor(
        ReadOnlySpan<int> shape,
        ReadOnlySpan<int> strides0, int offset0,
        ReadOnlySpan<int> strides1, int offset1,
        ReadOnlySpan<int> strides2, int offset2)
        : this(shape, strides0, offset0, strides1, offset1, strides2, offset2, 3)
    {
    }

    private RowCursor(
        ReadOnlySpan<int> shape,
        ReadOnlySpan<int> strides0, int offset0,
        ReadOnlySpan<int> strides1, int offset1,
        ReadOnlySpan<int> strides2, int offset2,
        int operands)
    {
        // Coalesce: keep dims of size != 1, merge dim i into i+1 when every operand has
        // stride[i] == stride[i+1] * size[i+1].
        Span<int> dims = stackalloc int[shape.Length];
        Span<int> t0 = stackalloc int[shape.Length];
        Span<int> t1 = stackalloc int[shape.Length];
        Span<int> t2 = stackalloc int[shape.Length];
        var r = 0;
        var empty = false;
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] == 0)
            {
                empty = true;
            }

            if (shape[i] == 1)
            {
                continue;
            }

            var a = strides0[i];
            var b = operands > 1 ? strides1[i] : 0;
            var c = operands > 2 ? strides2[i] : 0;
            if (r > 0
                && t0[r - 1] == a * shape[i]
                && t1[r - 1] == b * shape[i]
                && t2[r - 1] == c * shape[i])
            {
                dims[r - 1] *= shape[i];
                t0[r - 1] = a;
                t1[r - 1] = b;
                t2[r - 1] = c;
                continue;
            }

            dims[r] = shape[i];
            t0[r] = a;
            t1[r] = b;
            t2[r] = c;
            r++;
        }

        _base0 = offset0;
        _base1 = offset1;
        _base2 = offset2;
        Offset0 = offset0;
        Offset1 = offset1;
        Offset2 = offset2;
        _started = false;
        if (r == 0)
        {
            Length = 1;
            Inner0 = Inner1 = Inner2 = 0;
            _outer = _s0 = _s1 = _s2 = _index = [];
            _rowsLeft = empty ? 0 : 1;
            return;
        }

        Length = dims[r - 1];
        Inner0 = t0[r - 1];
        Inner1 = t1[r - 1];
        Inner2 = t2[r - 1];
        _outer = dims[..(r - 1)].ToArray();
        _s0 = t0[..(r - 1)].ToArray();
        _s1 = t1[..(r - 1)].ToArray();
        _s2 = t2[..(r - 1)].ToArray();
        _index = new int[r - 1];
        long rows = 1;
        foreach (var d in _outer)
        {
            rows *= d;
        }

        _rowsLeft = empty ? 0 : rows;
    }

    /// <summary>Total number of elements visited.</summary>
    public readonly long Count => _rowsLeft * Length;

    public bool MoveNext()
    {
        if (_rowsLeft == 0)
        {
            return false;
        }

        _rowsLeft--;
        if (BufferPool.CollectAfterRows > 0)
        {
            BufferPool.KernelCheckpoint();
        }

        if (!_started)
        {
            _started = true;
            return true;
        }

        // Odometer over the outer dimensions, last one fastest.
        for (var d = _outer.Length - 1; d >= 0; d--)
        {
            if (++_index[d] < _outer[d])
            {
                Offset0 += _s0[d];
                Offset1 += _s1[d];
                Offset2 += _s2[d];
                return true;
            }

            Offset0 -= _s0[d] * (_index[d] - 1);
            Offset1 -= _s1[d] * (_index[d] - 1);
            Offset2 -= _s2[d] * (_index[d] - 1);
            _index[d] = 0;
        }

        // Unreachable while _rowsLeft is consistent; reset keeps offsets sane.
        Offset0 = _base0;
        Offset1 = _base1;
        Offset2 = _base2;
        return true;
    }
}
