namespace Autograd;

/// <summary>
/// One entry of a tensor index, as in PyTorch's <c>x[0, 1:3, ..., None]</c> and TorchSharp's
/// <c>TensorIndex</c>: an integer (selects and removes the dimension), a range or slice with a step
/// (keeps it), <see cref="Ellipsis"/> (every dimension not otherwise indexed) or <see cref="NewAxis"/>
/// (inserts a size-1 dimension). Converts implicitly from <c>int</c>, <see cref="System.Index"/>
/// (<c>^1</c>) and <see cref="System.Range"/> (<c>1..3</c>, <c>..</c>), so <c>x[.., 1..3]</c> and
/// <c>x[0, ..]</c> compile as written.
/// </summary>
public readonly struct TensorIndex
{
    internal enum IndexKind
    {
        Single,
        Slice,
        Ellipsis,
        NewAxis,
    }

    internal readonly IndexKind _kind;
    internal readonly Index _single;
    internal readonly Index? _start;
    internal readonly Index? _end;
    internal readonly int _step;

    private TensorIndex(IndexKind kind, Index single, Index? start, Index? end, int step)
    {
        _kind = kind;
        _single = single;
        _start = start;
        _end = end;
        _step = step;
    }

    /// <summary>Every dimension not otherwise indexed (Python's <c>...</c>); at most one per index.</summary>
    public static TensorIndex Ellipsis => new(IndexKind.Ellipsis, default, null, null, 1);

    /// <summary>A new dimension of size 1 (Python's <c>None</c>).</summary>
    public static TensorIndex NewAxis => new(IndexKind.NewAxis, default, null, null, 1);

    /// <summary>One position of a dimension; negative values count from the end.</summary>
    public static TensorIndex Single(int index) =>
        new(IndexKind.Single, index < 0 ? Index.FromEnd(-index) : Index.FromStart(index), null, null, 1);

    /// <summary>
    /// Positions start, start+step, ... before end (Python's <c>start:end:step</c>; null bounds mean the
    /// whole dimension, negative values count from the end, out-of-range bounds are clamped).
    /// </summary>
    public static TensorIndex Slice(int? start = null, int? end = null, int step = 1) =>
        new(IndexKind.Slice, default, FromInt(start), FromInt(end), step);

    public static implicit operator TensorIndex(int index) => Single(index);

    public static implicit operator TensorIndex(Index index) => new(IndexKind.Single, index, null, null, 1);

    public static implicit operator TensorIndex(Range range) => new(IndexKind.Slice, default, range.Start, range.End, 1);

    private static Index? FromInt(int? i) => i is not { } v ? null : v < 0 ? Index.FromEnd(-v) : Index.FromStart(v);

    public override string ToString() => _kind switch
    {
        IndexKind.Single => _single.ToString(),
        IndexKind.Slice => $"{_start}..{_end}" + (_step != 1 ? $" step {_step}" : ""),
        IndexKind.Ellipsis => "...",
        _ => "NewAxis",
    };
}
