using System.Numerics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Autograd;

/// <summary>
/// Anomaly mode (PyTorch's <c>torch.autograd.detect_anomaly</c>): while a <see cref="Tensor.DetectAnomaly"/>
/// scope is open on this thread or async flow, the result of every recorded op and every gradient a VJP
/// returns is checked for NaN and ±∞, and the first one found throws <see cref="AnomalyException"/>.
/// </summary>
/// <remarks>
/// Off, it costs one read of a static counter per recorded node and per VJP: the per-flow flag (an
/// <see cref="AsyncLocal{T}"/>, like grad mode) is read only while some scope is open somewhere.
/// </remarks>
internal static class Anomaly
{
    private static readonly AsyncLocal<bool> s_enabled = new();
    private static int s_openScopes;

    public static bool IsEnabled => Volatile.Read(ref s_openScopes) != 0 && s_enabled.Value;

    public static AnomalyScope Enter(bool enabled)
    {
        var previous = s_enabled.Value;
        Interlocked.Increment(ref s_openScopes);
        s_enabled.Value = enabled;
        return new AnomalyScope(previous);
    }

    internal static void Exit(bool previous)
    {
        s_enabled.Value = previous;
        Interlocked.Decrement(ref s_openScopes);
    }

    /// <summary>
    /// The forward check of a node just recorded: a non-finite value in its result either came in with an
    /// input (user data, or a tensor computed outside the scope) or was made by the op.
    /// </summary>
    public static void CheckForward<T>(Node<T> node, Tensor<T> output)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (FirstNonFinite(output) is not { } bad)
        {
            return;
        }

        for (var i = 0; i < node.InputCount; i++)
        {
            var input = node.Input(i);
            if (FirstNonFinite(input) is { } carried)
            {
                throw new AnomalyException(
                    $"Anomaly (forward): the result of {node.Describe()} (shape {ShapeMath.Format(output.ShapeArray)}) contains {Name(bad)}; "
                    + $"its input {i} (shape {ShapeMath.Format(input.ShapeArray)}) already contained {Name(carried)} "
                    + (input.IsLeaf ? "(a leaf: check the data it was made from)." : "(computed before anomaly mode was on)."),
                    node, AnomalyPhase.Forward, i, inputCarriedIt: true, double.CreateTruncating(carried));
            }
        }

        throw new AnomalyException(
            $"Anomaly (forward): {node.Describe()} produced {Name(bad)} in its result (shape {ShapeMath.Format(output.ShapeArray)}) from finite inputs.",
            node, AnomalyPhase.Forward, input: null, inputCarriedIt: false, double.CreateTruncating(bad));
    }

    /// <summary>
    /// The backward check after a node's VJP ran: a non-finite gradient for input i either came with the
    /// incoming gradient (a seed or a hook: every VJP result before it was checked) or was made by the VJP.
    /// </summary>
    public static void CheckBackward<T>(Node<T> node, Tensor<T> gradOutput, ReadOnlySpan<Tensor<T>?> grads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < grads.Length; i++)
        {
            if (grads[i] is not { } gi || FirstNonFinite(gi) is not { } bad)
            {
                continue;
            }

            if (FirstNonFinite(gradOutput) is { } carried)
            {
                throw new AnomalyException(
                    $"Anomaly (backward): the gradient {node.Describe()} returned for input {i} (shape {ShapeMath.Format(gi.ShapeArray)}) contains {Name(bad)}; "
                    + $"the incoming gradient of its output (shape {ShapeMath.Format(gradOutput.ShapeArray)}) already contained {Name(carried)} "
                    + "(the gradOutput passed to Backward, or a hook's result).",
                    node, AnomalyPhase.Backward, i, inputCarriedIt: true, double.CreateTruncating(carried));
            }

            throw new AnomalyException(
                $"Anomaly (backward): the VJP of {node.Describe()} produced {Name(bad)} in the gradient for input {i} "
                + $"(shape {ShapeMath.Format(gi.ShapeArray)}) from a finite incoming gradient.",
                node, AnomalyPhase.Backward, i, inputCarriedIt: false, double.CreateTruncating(bad));
        }
    }

    /// <summary>The first NaN or infinity among the tensor's elements, or null when all are finite.</summary>
    private static T? FirstNonFinite<T>(Tensor<T> t)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (t.Storage.Length == 0 || t.Numel == 0)
        {
            return null;
        }

        using var tr = t.Read();
        var values = tr.ContiguousElements;
        if (TP.IsFiniteAll(values))
        {
            return null;
        }

        foreach (var v in values)
        {
            if (!T.IsFinite(v))
            {
                return v;
            }
        }

        return null;
    }

    private static string Name<T>(T value)
        where T : unmanaged, IFloatingPointIeee754<T>
        => T.IsNaN(value) ? "NaN" : T.IsPositiveInfinity(value) ? "+Infinity" : "-Infinity";
}

/// <summary>Which pass found an anomaly.</summary>
public enum AnomalyPhase
{
    /// <summary>The result of a recorded op.</summary>
    Forward,

    /// <summary>A gradient a VJP returned.</summary>
    Backward,
}

/// <summary>
/// Thrown in anomaly mode (<see cref="Tensor.DetectAnomaly"/>) when a recorded op's result or a VJP's gradient
/// holds NaN or ±∞. Names the op and its call site, the phase, the input concerned and whether the value came
/// in with it or was made by the op. A <see cref="NotFiniteNumberException"/> (so an
/// <see cref="ArithmeticException"/>): it is about a number, not about the state of an object.
/// </summary>
public sealed class AnomalyException : NotFiniteNumberException
{
    internal AnomalyException(string message, Node node, AnomalyPhase phase, int? input, bool inputCarriedIt, double value)
        : base(message, value)
    {
        OpName = node.OpName;
        Sequence = node.Sequence;
        CallSite = node.CallSite;
        Phase = phase;
        Input = input;
        InputCarriedIt = inputCarriedIt;
    }

    /// <summary>The op whose result or gradient held the value.</summary>
    public string OpName { get; }

    /// <summary>The node's place on the tape.</summary>
    public long Sequence { get; }

    /// <summary>Where the op was recorded.</summary>
    public CallSite CallSite { get; }

    /// <summary>Forward (an op's result) or backward (a gradient its VJP returned).</summary>
    public AnomalyPhase Phase { get; }

    /// <summary>
    /// Forward: the input that already held a non-finite value (null when the op made it). Backward: the
    /// input whose gradient held it.
    /// </summary>
    public int? Input { get; }

    /// <summary>
    /// True when the value came in from outside the op (forward: input <see cref="Input"/>; backward: the
    /// incoming gradient); false when the op (its forward or its VJP) produced it from finite values.
    /// </summary>
    public bool InputCarriedIt { get; }
}

/// <summary>Restores the enclosing anomaly mode when disposed (see <see cref="Tensor.DetectAnomaly"/>).</summary>
public readonly struct AnomalyScope : IDisposable
{
    private readonly bool _previous;

    internal AnomalyScope(bool previous) => _previous = previous;

    public void Dispose() => Anomaly.Exit(_previous);
}
