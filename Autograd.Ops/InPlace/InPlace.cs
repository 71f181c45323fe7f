using System.Numerics;
using Autograd.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

/// <summary>
/// In-place updates, PyTorch's trailing-underscore ops in .NET casing (<c>add_</c> is
/// <c>AddInPlace</c>): they write into the tensor's
/// own storage, return the tensor, and bump the storage version so that backward can tell when a tensor
/// an op saved was changed after the op was recorded.
/// </summary>
/// <remarks>
/// In-place ops are not recorded. While grad mode is on they refuse a target that requires grad (a
/// leaf parameter, or a tensor some recorded op produced) and an operand that requires grad: PyTorch
/// rewrites the graph for the latter; here the out-of-place op says the same thing without surprises.
/// Optimiser steps and other updates of parameters run inside <c>using (Tensor.NoGrad())</c>.
/// The right-hand side broadcasts to the target's shape (never the other way round); the target may
/// be any view whose elements are distinct (an expanded view is refused: one write would land in
/// several elements).
/// </remarks>
public static class InPlaceExtensions
{
    extension<T>(Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>x += alpha·other (PyTorch <c>add_(other, alpha=alpha)</c>), other broadcast to x's shape.</summary>
        public Tensor<T> AddInPlace(Tensor<T> other, T alpha) => AddScaled(x, other, alpha, "AddInPlace");

        /// <summary>x += other, other broadcast to x's shape.</summary>
        public Tensor<T> AddInPlace(Tensor<T> other) => AddScaled(x, other, T.One, "AddInPlace");

        /// <summary>x += value.</summary>
        public Tensor<T> AddInPlace(T value) => Apply<T, AddOp<T>>("AddInPlace", x, Tensor.Scalar(value), "value");

        /// <summary>x −= alpha·other (PyTorch <c>sub_(other, alpha=alpha)</c>).</summary>
        public Tensor<T> SubInPlace(Tensor<T> other, T alpha) => AddScaled(x, other, -alpha, "SubInPlace");

        /// <summary>x −= other.</summary>
        public Tensor<T> SubInPlace(Tensor<T> other) => Apply<T, SubtractOp<T>>("SubInPlace", x, other, "other");

        /// <summary>x −= value.</summary>
        public Tensor<T> SubInPlace(T value) => Apply<T, SubtractOp<T>>("SubInPlace", x, Tensor.Scalar(value), "value");

        /// <summary>x ⊙= other.</summary>
        public Tensor<T> MulInPlace(Tensor<T> other) => Apply<T, MultiplyOp<T>>("MulInPlace", x, other, "other");

        /// <summary>x ·= value.</summary>
        public Tensor<T> MulInPlace(T value) => Apply<T, MultiplyOp<T>>("MulInPlace", x, Tensor.Scalar(value), "value");

        /// <summary>x ⊘= other.</summary>
        public Tensor<T> DivInPlace(Tensor<T> other) => Apply<T, DivideOp<T>>("DivInPlace", x, other, "other");

        /// <summary>x /= value.</summary>
        public Tensor<T> DivInPlace(T value) => Apply<T, DivideOp<T>>("DivInPlace", x, Tensor.Scalar(value), "value");

        /// <summary>x += value·t1·t2 (PyTorch <c>addcmul_</c>), t1·t2 broadcast to x's shape.</summary>
        public Tensor<T> AddcmulInPlace(Tensor<T> tensor1, Tensor<T> tensor2, T value) =>
            AddProduct<T, MultiplyOp<T>>("AddcmulInPlace", x, tensor1, tensor2, value);

        /// <summary>x += value·t1/t2 (PyTorch <c>addcdiv_</c>, Adam's update), t1/t2 broadcast to x's shape.</summary>
        public Tensor<T> AddcdivInPlace(Tensor<T> tensor1, Tensor<T> tensor2, T value) =>
            AddProduct<T, DivideOp<T>>("AddcdivInPlace", x, tensor1, tensor2, value);

        /// <summary>x += weight·(end − x) (PyTorch <c>lerp_</c>, the moving averages of Adam).</summary>
        public Tensor<T> LerpInPlace(Tensor<T> end, T weight)
        {
            const string op = "LerpInPlace";
            CheckTarget(op, x);
            CheckOperand(op, x, end, "end");
            return AddScaledUnchecked(x, Elementwise.Binary<T, SubtractOp<T>>(end, x, op), weight, op);
        }

        /// <summary>Copies <paramref name="source"/> into x (PyTorch <c>copy_</c>), source broadcast to x's shape.</summary>
        public Tensor<T> CopyFrom(Tensor<T> source)
        {
            const string op = "CopyFrom";
            CheckTarget(op, x);
            CheckOperand(op, x, source, "source");
            source = Unaliased(x, source);
            var strides = source.BroadcastStridesTo(x.ShapeArray, op);
            using (var xw = x.Write())
            using (var sr = source.Read())
            {
                Strided.Copy(xw.Span, xw.Offset, x.StridesArray, sr.Span, sr.Offset, strides, x.ShapeArray);
            }

            x.BumpVersion();
            return x;
        }

        /// <summary>
        /// The masked assignment <c>x[mask] = value</c> (PyTorch <c>masked_fill_</c>): sets the elements where
        /// <paramref name="mask"/> (broadcast to x's shape) is non-zero, e.g. <c>x.MaskedFillInPlace(x &lt; 0f, 0f)</c>.
        /// </summary>
        public Tensor<T> MaskedFillInPlace(Tensor<T> mask, T value)
        {
            const string op = "MaskedFillInPlace";
            CheckTarget(op, x);
            CheckOperand(op, x, mask, "mask");
            Tensor<T> filled;
            using (Tensor.NoGrad())
            {
                filled = x.MaskedFill(mask, double.CreateTruncating(value));
            }

            return x.CopyFrom(filled);
        }

        /// <summary>Sets every element to <paramref name="value"/> (PyTorch <c>fill_</c>).</summary>
        public Tensor<T> Fill(T value)
        {
            CheckTarget("Fill", x);
            x.FillInPlace(value);
            return x;
        }

        /// <summary>Sets every element to zero (PyTorch <c>zero_</c>).</summary>
        public Tensor<T> Zero()
        {
            CheckTarget("Zero", x);
            x.FillInPlace(T.Zero);
            return x;
        }
    }

    /// <summary>x = op(x, other), elementwise, other broadcast to x's shape.</summary>
    private static Tensor<T> Apply<T, TOp>(string op, Tensor<T> x, Tensor<T> other, string argument)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        CheckTarget(op, x);
        CheckOperand(op, x, other, argument);
        Elementwise.BinaryInto<T, TOp>(x, x, Unaliased(x, other), op);
        x.BumpVersion();
        return x;
    }

    private static Tensor<T> AddScaled<T>(Tensor<T> x, Tensor<T> other, T alpha, string op)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckTarget(op, x);
        CheckOperand(op, x, other, "other");
        return AddScaledUnchecked(x, other, alpha, op);
    }

    /// <summary>x += t1 op t2 scaled by value: the product is formed first (broadcasting t1 with t2), then added.</summary>
    private static Tensor<T> AddProduct<T, TOp>(string op, Tensor<T> x, Tensor<T> tensor1, Tensor<T> tensor2, T value)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TOp : IBinaryOp<T>
    {
        CheckTarget(op, x);
        CheckOperand(op, x, tensor1, "tensor1");
        CheckOperand(op, x, tensor2, "tensor2");
        return AddScaledUnchecked(x, Elementwise.Binary<T, TOp>(tensor1, tensor2, op), value, op);
    }

    private static Tensor<T> AddScaledUnchecked<T>(Tensor<T> x, Tensor<T> other, T alpha, string op)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBroadcast(op, x, other, "other");
        other = Unaliased(x, other);
        if (alpha == T.One)
        {
            Elementwise.BinaryInto<T, AddOp<T>>(x, x, other, op);
        }
        else if (x.IsContiguous && other.IsContiguous && ShapeMath.SameShape(x.ShapeArray, other.ShapeArray))
        {
            // The optimiser case (parameter and gradient of one shape): one fused pass, x = other·alpha + x.
            var n = x.Numel;
            using var xw = x.Write();
            using var otherRead = other.Read();
            var d = xw.Span.Slice(xw.Offset, n);
            TP.MultiplyAdd(otherRead.Span.Slice(otherRead.Offset, n), alpha, d, d);
        }
        else
        {
            Elementwise.BinaryInto<T, AddOp<T>>(x, x, Elementwise.Binary<T, MultiplyOp<T>>(other, Tensor.Scalar(alpha), op), op);
        }

        x.BumpVersion();
        return x;
    }

    private static void CheckTarget<T>(string op, Tensor<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.RequiresGrad && Tape.IsGradEnabled)
        {
            throw new InvalidOperationException(x.GradFn is { } producer
                ? $"{op}: the tensor (shape {ShapeMath.Format(x.ShapeArray)}) is the result of '{producer.OpName}' and is recorded for backward; "
                    + "in-place ops on recorded tensors are not supported. Use the out-of-place op, or Detach() first."
                : $"{op}: the tensor (shape {ShapeMath.Format(x.ShapeArray)}) is a leaf that requires grad, and an in-place write would change "
                    + "what its recorded uses read. Update parameters inside 'using (Tensor.NoGrad()) { ... }'.");
        }

        if (!Strided.IsNonOverlapping(x.ShapeArray, x.StridesArray))
        {
            throw new ArgumentException(
                $"{op}: the tensor is an overlapping view (shape {ShapeMath.Format(x.ShapeArray)}, strides {ShapeMath.Format(x.StridesArray)}), "
                + "so one write would land in several elements; write into Contiguous() or Clone() instead.",
                nameof(x));
        }
    }

    private static void CheckOperand<T>(string op, Tensor<T> x, Tensor<T> operand, string argument)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(operand, argument);
        if (operand.RequiresGrad && Tape.IsGradEnabled)
        {
            throw new InvalidOperationException(
                $"{op}: {argument} (shape {ShapeMath.Format(operand.ShapeArray)}) requires grad, and in-place ops are not recorded; "
                + "use the out-of-place op to get its gradient, or run the update inside 'using (Tensor.NoGrad()) { ... }'.");
        }

        CheckBroadcast(op, x, operand, argument);
    }

    private static void CheckBroadcast<T>(string op, Tensor<T> x, Tensor<T> operand, string argument)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!BroadcastsTo(operand.ShapeArray, x.ShapeArray))
        {
            throw new ArgumentException(
                $"{op}: {argument} of shape {ShapeMath.Format(operand.ShapeArray)} cannot be broadcast to the tensor's shape {ShapeMath.Format(x.ShapeArray)}.",
                argument);
        }
    }

    /// <summary>True when <paramref name="from"/> broadcasts to exactly <paramref name="to"/> (trailing dims equal or 1).</summary>
    private static bool BroadcastsTo(ReadOnlySpan<int> from, ReadOnlySpan<int> to)
    {
        if (from.Length > to.Length)
        {
            return false;
        }

        var lead = to.Length - from.Length;
        for (var i = 0; i < from.Length; i++)
        {
            if (from[i] != 1 && from[i] != to[lead + i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The operand itself, or a copy of it when it reads x's storage through another view: the row
    /// loop would otherwise read elements it has already overwritten (x += x.Flip() style aliasing).
    /// Reading exactly the elements being written (x *= x) is safe and needs no copy.
    /// </summary>
    private static Tensor<T> Unaliased<T>(Tensor<T> x, Tensor<T> operand)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!operand.SharesStorage(x)
            || (operand.Offset == x.Offset && ShapeMath.SameShape(operand.ShapeArray, x.ShapeArray) && ShapeMath.SameShape(operand.StridesArray, x.StridesArray)))
        {
            return operand;
        }

        return operand.ContiguousCopy();
    }
}
