using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// The shared plumbing of elementwise ops: run the kernel, and when recording, attach the op's VJP
/// formulas. Each op file passes its kernel struct and its formulas as static lambdas of
/// (g, inputs..., output), so the formula stays next to the op's entry point.
/// </summary>
internal static class ElementwiseOp
{
    /// <summary>Which tensors an elementwise VJP reads (their versions are checked before it runs).</summary>
    [Flags]
    public enum Saves : byte
    {
        None = 0,
        A = 1,
        B = 2,
        Output = 4,
        Input = A,
    }

    public delegate Tensor<T> BinaryVjp<T>(Tensor<T> g, Tensor<T> a, Tensor<T> b, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    public delegate Tensor<T> UnaryVjp<T>(Tensor<T> g, Tensor<T> x, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// y = op(a, b) with broadcasting; da and db are reduced to a's and b's shapes here. Each formula
    /// comes with the tensors it reads (<paramref name="daReads"/>, <paramref name="dbReads"/>).
    /// </summary>
    public static Tensor<T> Binary<T, TKernel>(string name, CallSite site, Tensor<T> a, Tensor<T> b, Saves daReads, BinaryVjp<T> da, Saves dbReads, BinaryVjp<T> db)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : IBinaryOp<T>
    {
        Tensor<T>.ThrowIfNullArgument(a, name, nameof(a));
        Tensor<T>.ThrowIfNullArgument(b, name, nameof(b));
        var y = Elementwise.Binary<T, TKernel>(a, b, name);
        if (OpTrace.IsActive)
        {
            OpTrace.Add(name, y, [a, b]);
        }

        if (Tape.ShouldRecord(a, b))
        {
            // Only what the wanted gradients read is saved (PyTorch: mul saves b for da only when a needs grad).
            // Decided now, at record time: what the graph wants does not change if RequiresGrad does later.
            var saves = (a.RequiresGrad ? daReads : Saves.None) | (b.RequiresGrad ? dbReads : Saves.None);
            Tape.Record(y, new BinaryNode<T>(name, site, a, b, y, da, db, saves));
        }

        return y;
    }

    /// <summary>The VJP of an op with a C# scalar operand s: the gradient of its tensor operand x.</summary>
    public delegate Tensor<T> ScalarVjp<T>(Tensor<T> g, Tensor<T> x, T s, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// y = op(x, s), or op(s, x) when <paramref name="scalarFirst"/>, for the C# operators with a scalar
    /// (<c>x * 2f</c>, <c>1.0 - x</c>): the same result and node as the op with s as a rank-0 tensor
    /// (named <paramref name="name"/>, no call site, two inputs), but s stays a value: the rank-0 tensor is
    /// made only if someone reads the node's inputs, and the VJP (<paramref name="dx"/>, which reads
    /// <paramref name="reads"/> of x and y) uses s itself. A value cannot be modified in place, so it has
    /// no version to check.
    /// </summary>
    public static Tensor<T> WithScalar<T, TKernel>(string name, Tensor<T> x, T s, bool scalarFirst, Saves reads, ScalarVjp<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : IBinaryOp<T>
    {
        Tensor<T>.ThrowIfNullArgument(x, name, scalarFirst ? "b" : "a");
        var y = Elementwise.WithScalar<T, TKernel>(x, s, scalarFirst, name);
        if (OpTrace.IsActive)
        {
            OpTrace.Add(name, y, scalarFirst ? [double.CreateTruncating(s), x] : [x, double.CreateTruncating(s)]);
        }

        if (Tape.ShouldRecord(x))
        {
            Tape.Record(y, new ScalarNode<T>(name, x, s, scalarFirst, y, dx, reads));
        }

        return y;
    }

    /// <summary>y = op(x) elementwise.</summary>
    public static Tensor<T> Unary<T, TKernel>(string name, CallSite site, Tensor<T> x, Saves saves, UnaryVjp<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TKernel : IUnaryOp<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Elementwise.Unary<T, TKernel>(x);
        if (OpTrace.IsActive)
        {
            OpTrace.Add(name, y, [x]);
        }

        if (Tape.ShouldRecord(x))
        {
            Tape.Record(y, new UnaryNode<T>(name, site, x, y, dx, saves));
        }

        return y;
    }

    /// <summary>A contiguous row function for unary ops whose kernel needs parameters (an exponent, bounds, a slope).</summary>
    public delegate void RowFunc<T>(ReadOnlySpan<T> x, Span<T> destination);

    /// <summary>y = row(x) elementwise, with a parameterised row function costing <paramref name="cost"/> copies per element (<see cref="Elementwise.Cost"/>).</summary>
    public static Tensor<T> Unary<T>(string name, CallSite site, Tensor<T> x, RowFunc<T> row, Saves saves, UnaryVjp<T> dx, int cost = Elementwise.Cost.Copy)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var y = Elementwise.Unary(x, row, cost);
        if (OpTrace.IsActive)
        {
            OpTrace.Add(name, y, [x]);
        }

        if (Tape.ShouldRecord(x))
        {
            Tape.Record(y, new UnaryNode<T>(name, site, x, y, dx, saves));
        }

        return y;
    }

    /// <summary>
    /// Saved tensor <paramref name="k"/> of <paramref name="saves"/>: the k-th of a, b, y that it names, in the
    /// order the nodes list them as saved when constructed (their versions are noted then).
    /// </summary>
    private static Tensor<T> Saved<T>(Saves saves, int k, Tensor<T> a, Tensor<T>? b, Tensor<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if ((saves & Saves.A) != 0 && k-- == 0)
        {
            return a;
        }

        return (saves & Saves.B) != 0 && k == 0 ? b! : y;
    }

    /// <summary>
    /// The node of a binary elementwise op, which is its own VJP: recording allocates this one object
    /// (the inputs sit in the node's slots, the formulas are the op file's static lambdas, and the saved
    /// tensors are among a, b and y, so the node keeps only which: <see cref="Node{T}._savedSet"/>).
    /// da and db are reduced to a's and b's shapes (Σ over the broadcast dimensions).
    /// </summary>
    private sealed class BinaryNode<T> : Node<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly BinaryVjp<T> _da;
        private readonly BinaryVjp<T> _db;
        private Tensor<T>? _y;

        public BinaryNode(string name, CallSite site, Tensor<T> a, Tensor<T> b, Tensor<T> y, BinaryVjp<T> da, BinaryVjp<T> db, Saves saves)
            : base(name, site, [a, b], [(saves & Saves.A) != 0 ? a : null, (saves & Saves.B) != 0 ? b : null, (saves & Saves.Output) != 0 ? y : null])
        {
            (_da, _db, _y) = (da, db, y);
            _savedSet = (byte)saves;
        }

        internal override void Vjp(Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads)
        {
            var (a, b) = (Input(0), Input(1));
            if (NeedsGrad(0))
            {
                inputGrads[0] = _da(gradOutput, a, b, _y!).SumToSize(a.ShapeArray);
            }

            if (NeedsGrad(1))
            {
                inputGrads[1] = _db(gradOutput, a, b, _y!).SumToSize(b.ShapeArray);
            }
        }

        internal override void ReleaseVjp() => _y = null;

        private protected override Tensor<T> SavedTensor(int k) => Saved((Saves)_savedSet, k, Input(0), Input(1), _y!);
    }

    /// <summary>The node of a unary elementwise op, which is its own VJP (see <see cref="BinaryNode{T}"/>).</summary>
    private sealed class UnaryNode<T> : Node<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly UnaryVjp<T> _dx;
        private Tensor<T>? _y;

        public UnaryNode(string name, CallSite site, Tensor<T> x, Tensor<T> y, UnaryVjp<T> dx, Saves saves)
            : base(name, site, [x], [(saves & Saves.Input) != 0 ? x : null, (saves & Saves.Output) != 0 ? y : null])
        {
            (_dx, _y) = (dx, y);
            _savedSet = (byte)saves;
        }

        internal override void Vjp(Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads) => inputGrads[0] = _dx(gradOutput, Input(0), _y!);

        internal override void ReleaseVjp() => _y = null;

        private protected override Tensor<T> SavedTensor(int k) => Saved((Saves)_savedSet, k, Input(0), null, _y!);
    }

    /// <summary>
    /// The node of an op between a tensor x and a C# scalar s (see <see cref="WithScalar{T, TKernel}"/>):
    /// x is input 0, or input 1 after the scalar; the scalar's input slot stays empty until read.
    /// </summary>
    private sealed class ScalarNode<T> : Node<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly ScalarVjp<T> _dx;
        private readonly T _s;
        private readonly bool _scalarFirst;
        private Tensor<T>? _y;

        public ScalarNode(string name, Tensor<T> x, T s, bool scalarFirst, Tensor<T> y, ScalarVjp<T> dx, Saves saves)
            : base(name, CallSite.ForOperator(name switch { "Add" => "operator +", "Sub" => "operator -", "Mul" => "operator *", "Div" => "operator /", _ => "operator" }), scalarFirst ? [null, x] : [x, null], [(saves & Saves.Input) != 0 ? x : null, (saves & Saves.Output) != 0 ? y : null])
        {
            (_dx, _s, _scalarFirst, _y) = (dx, s, scalarFirst, y);
            _savedSet = (byte)saves;
        }

        private int At => _scalarFirst ? 1 : 0;

        internal override void Vjp(Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads) => inputGrads[At] = _dx(gradOutput, Input(At), _s, _y!);

        internal override void ReleaseVjp() => _y = null;

        private protected override Tensor<T> SavedTensor(int k) => Saved((Saves)_savedSet, k, Input(At), null, _y!);

        private protected override Tensor<T> MakeInput(int i) => Tensor.Scalar(_s);
    }
}
