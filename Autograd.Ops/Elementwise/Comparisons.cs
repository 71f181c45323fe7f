using System.Numerics;
using Autograd.Kernels;

namespace Autograd;

/// <summary>
/// Elementwise comparisons with PyTorch broadcasting: <c>Eq</c>, <c>Ne</c>, <c>Lt</c>, <c>Le</c>,
/// <c>Gt</c>, <c>Ge</c>, against a tensor or a scalar. The result is a <em>mask</em>: a tensor of the
/// same element type holding 1 where the comparison holds and 0 elsewhere (our tensors are float or
/// double only; there is no bool tensor). A mask is piecewise constant, so it is never recorded and
/// never requires grad; <c>Where</c>, <c>MaskedFill</c> and <c>Mul</c> consume it. NaN compares as
/// IEEE 754 says: unequal to everything, itself included.
/// </summary>
/// <remarks>
/// The C# operators <c>&lt;</c>, <c>&lt;=</c>, <c>&gt;</c>, <c>&gt;=</c> between tensors or with a scalar
/// (<c>x &gt; 0f</c>, <c>x &gt; 0.5</c>, <c>0f &lt; x</c>), and <c>==</c>, <c>!=</c> with a scalar
/// (<c>x == 3f</c>), return the same masks, as PyTorch's. <c>==</c> between two tensors stays reference
/// identity, as for every .NET class (<c>x == null</c>, dictionaries and <c>Equals</c> rely on it; a
/// tensor is mutable, so value equality could not be hashed): its result is a bool, never a tensor, so
/// it cannot be used as a mask by mistake. The elementwise form is <c>a.Eq(b)</c>.
/// </remarks>
public static class ComparisonExtensions
{
    extension<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Mask of a == b.</summary>
        public Tensor<T> Eq(Tensor<T> b) => Compare<T, EqTest>(a, b, "Eq");

        /// <summary>Mask of a == value.</summary>
        public Tensor<T> Eq(double value) => Compare<T, EqTest>(a, ScalarOperatorExtensions.Scalar<T>(value), "Eq");

        /// <summary>Mask of a != b.</summary>
        public Tensor<T> Ne(Tensor<T> b) => Compare<T, NeTest>(a, b, "Ne");

        /// <summary>Mask of a != value.</summary>
        public Tensor<T> Ne(double value) => Compare<T, NeTest>(a, ScalarOperatorExtensions.Scalar<T>(value), "Ne");

        /// <summary>Mask of a &lt; b.</summary>
        public Tensor<T> Lt(Tensor<T> b) => Compare<T, LtTest>(a, b, "Lt");

        /// <summary>Mask of a &lt; value.</summary>
        public Tensor<T> Lt(double value) => Compare<T, LtTest>(a, ScalarOperatorExtensions.Scalar<T>(value), "Lt");

        /// <summary>Mask of a &lt;= b.</summary>
        public Tensor<T> Le(Tensor<T> b) => Compare<T, LeTest>(a, b, "Le");

        /// <summary>Mask of a &lt;= value.</summary>
        public Tensor<T> Le(double value) => Compare<T, LeTest>(a, ScalarOperatorExtensions.Scalar<T>(value), "Le");

        /// <summary>Mask of a &gt; b.</summary>
        public Tensor<T> Gt(Tensor<T> b) => Compare<T, GtTest>(a, b, "Gt");

        /// <summary>Mask of a &gt; value.</summary>
        public Tensor<T> Gt(double value) => Compare<T, GtTest>(a, ScalarOperatorExtensions.Scalar<T>(value), "Gt");

        /// <summary>Mask of a &gt;= b.</summary>
        public Tensor<T> Ge(Tensor<T> b) => Compare<T, GeTest>(a, b, "Ge");

        /// <summary>Mask of a &gt;= value.</summary>
        public Tensor<T> Ge(double value) => Compare<T, GeTest>(a, ScalarOperatorExtensions.Scalar<T>(value), "Ge");
    }

    extension<T>(Tensor<T>)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Mask of a &gt; b (as <c>a.Gt(b)</c>).</summary>
        public static Tensor<T> operator >(Tensor<T> a, Tensor<T> b) => a.Gt(b);

        /// <summary>Mask of a &lt; b (as <c>a.Lt(b)</c>).</summary>
        public static Tensor<T> operator <(Tensor<T> a, Tensor<T> b) => a.Lt(b);

        /// <summary>Mask of a &gt;= b.</summary>
        public static Tensor<T> operator >=(Tensor<T> a, Tensor<T> b) => a.Ge(b);

        /// <summary>Mask of a &lt;= b.</summary>
        public static Tensor<T> operator <=(Tensor<T> a, Tensor<T> b) => a.Le(b);

        public static Tensor<T> operator >(Tensor<T> a, T b) => Compare<T, GtTest>(a, Tensor.Scalar(b), "Gt");

        public static Tensor<T> operator <(Tensor<T> a, T b) => Compare<T, LtTest>(a, Tensor.Scalar(b), "Lt");

        public static Tensor<T> operator >=(Tensor<T> a, T b) => Compare<T, GeTest>(a, Tensor.Scalar(b), "Ge");

        public static Tensor<T> operator <=(Tensor<T> a, T b) => Compare<T, LeTest>(a, Tensor.Scalar(b), "Le");

        public static Tensor<T> operator >(T a, Tensor<T> b) => Compare<T, GtTest>(Tensor.Scalar(a), b, "Gt");

        public static Tensor<T> operator <(T a, Tensor<T> b) => Compare<T, LtTest>(Tensor.Scalar(a), b, "Lt");

        public static Tensor<T> operator >=(T a, Tensor<T> b) => Compare<T, GeTest>(Tensor.Scalar(a), b, "Ge");

        public static Tensor<T> operator <=(T a, Tensor<T> b) => Compare<T, LeTest>(Tensor.Scalar(a), b, "Le");

        /// <summary>Mask of a == b for a scalar b (elementwise, as PyTorch); tensor == tensor is reference identity, see <c>Eq</c>.</summary>
        public static Tensor<T> operator ==(Tensor<T> a, T b) => Compare<T, EqTest>(a, Tensor.Scalar(b), "Eq");

        public static Tensor<T> operator !=(Tensor<T> a, T b) => Compare<T, NeTest>(a, Tensor.Scalar(b), "Ne");

        public static Tensor<T> operator ==(T a, Tensor<T> b) => Compare<T, EqTest>(Tensor.Scalar(a), b, "Eq");

        public static Tensor<T> operator !=(T a, Tensor<T> b) => Compare<T, NeTest>(Tensor.Scalar(a), b, "Ne");

        public static Tensor<T> operator >(Tensor<T> a, double b) => a.Gt(b);

        public static Tensor<T> operator <(Tensor<T> a, double b) => a.Lt(b);

        public static Tensor<T> operator >=(Tensor<T> a, double b) => a.Ge(b);

        public static Tensor<T> operator <=(Tensor<T> a, double b) => a.Le(b);

        public static Tensor<T> operator ==(Tensor<T> a, double b) => a.Eq(b);

        public static Tensor<T> operator !=(Tensor<T> a, double b) => a.Ne(b);
    }

    private static Tensor<T> Compare<T, TTest>(Tensor<T> a, Tensor<T> b, string name)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TTest : ITest
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return Elementwise.Binary<T, ScalarLoop<T, CompareOp<T, TTest>>>(a, b, name);
    }

    private interface ITest
    {
        static abstract bool Holds<T>(T x, T y)
            where T : IFloatingPointIeee754<T>;
    }

    private readonly struct EqTest : ITest
    {
        public static bool Holds<T>(T x, T y) where T : IFloatingPointIeee754<T> => x == y;
    }

    private readonly struct NeTest : ITest
    {
        public static bool Holds<T>(T x, T y) where T : IFloatingPointIeee754<T> => x != y;
    }

    private readonly struct LtTest : ITest
    {
        public static bool Holds<T>(T x, T y) where T : IFloatingPointIeee754<T> => x < y;
    }

    private readonly struct LeTest : ITest
    {
        public static bool Holds<T>(T x, T y) where T : IFloatingPointIeee754<T> => x <= y;
    }

    private readonly struct GtTest : ITest
    {
        public static bool Holds<T>(T x, T y) where T : IFloatingPointIeee754<T> => x > y;
    }

    private readonly struct GeTest : ITest
    {
        public static bool Holds<T>(T x, T y) where T : IFloatingPointIeee754<T> => x >= y;
    }

    /// <summary>1 where the test holds, else 0.</summary>
    private readonly struct CompareOp<T, TTest> : IScalarBinary<T>
        where T : unmanaged, IFloatingPointIeee754<T>
        where TTest : ITest
    {
        public static T Invoke(T x, T y) => TTest.Holds(x, y) ? T.One : T.Zero;
    }
}
