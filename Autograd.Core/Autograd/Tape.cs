using System.Numerics;

namespace Autograd;

/// <summary>
/// The ambient recorder of the current thread or async flow. Ops ask <see cref="ShouldRecord{T}(Tensor{T})"/>
/// and then record one node per call (through the library's internal <c>Record</c>; a custom op through
/// <see cref="Function{T}"/>); backward walks those nodes in reverse recording order.
/// </summary>
/// <remarks>
/// The tape numbers nodes; it does not own them. A node is owned by the tensor it produced
/// (<see cref="Tensor{T}.GradFn"/>) and through it by every later node that used that tensor, so a
/// graph nobody calls backward on is collected with its tensors, as in PyTorch.
/// </remarks>
public sealed class Tape
{
    private static readonly AsyncLocal<Tape?> s_current = new();
    private static readonly AsyncLocal<bool> s_gradDisabled = new();
    private static long s_sequence;

    private long _recorded;
    private long _released;

    /// <summary>The tape of this thread or async flow (created on first use).</summary>
    public static Tape Current => s_current.Value ??= new Tape();

    /// <summary>False inside <see cref="Tensor.NoGrad"/> and while a backward pass runs its VJPs.</summary>
    public static bool IsGradEnabled
    {
        get => !s_gradDisabled.Value;
        internal set => s_gradDisabled.Value = !value;
    }

    /// <summary>Nodes this tape has recorded.</summary>
    public long NodesRecorded => Interlocked.Read(ref _recorded);

    /// <summary>Nodes recorded by this tape that a backward pass (on any thread) released after use.</summary>
    public long NodesReleased => Interlocked.Read(ref _released);

    /// <summary>True when grad mode is on and the input requires grad.</summary>
    internal static bool ShouldRecord<T>(Tensor<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
        => a.RequiresGrad && IsGradEnabled;

    /// <summary>True when grad mode is on and either input requires grad.</summary>
    internal static bool ShouldRecord<T>(Tensor<T> a, Tensor<T>? b)
        where T : unmanaged, IFloatingPointIeee754<T>
        => (a.RequiresGrad || (b?.RequiresGrad ?? false)) && IsGradEnabled;

    /// <summary>True when grad mode is on and any input requires grad.</summary>
    internal static bool ShouldRecord<T>(params ReadOnlySpan<Tensor<T>?> inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!IsGradEnabled)
        {
            return false;
        }

        foreach (var t in inputs)
        {
            if (t?.RequiresGrad == true)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Appends one node for <paramref name="output"/>: the op's name, its inputs (whatever the VJP
    /// needs beyond them it captures) and its VJP. Marks the output as requiring grad. Returns the output.
    /// Call it only when <see cref="ShouldRecord{T}(ReadOnlySpan{Tensor{T}})"/> said so.
    /// <c>saved</c> lists the tensors whose values the VJP reads (inputs or the output; nulls are
    /// skipped). Their storage versions are noted now and checked before the VJP runs, so an in-place
    /// write in between makes backward throw <see cref="SavedTensorModifiedException"/> instead of
    /// returning a wrong gradient. The node has no call site unless a <see cref="CallSite.Enter"/> scope is
    /// open; ops pass theirs with the overload that takes one.
    /// </summary>
    /// <remarks>
    /// The library's recording path, internal: a user writes a custom op with <see cref="Function{T}"/>
    /// (or <see cref="Function.Apply{T}"/>), which records its own node. The inputs are a span, so an
    /// op's <c>[a, b]</c> needs no array: the node copies them into its own slots.
    /// </remarks>
    internal static Tensor<T> Record<T>(string opName, Tensor<T> output, ReadOnlySpan<Tensor<T>> inputs, VjpFunc<T> vjp, params ReadOnlySpan<Tensor<T>?> saved)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Record(opName, CallSite.Unknown, output, inputs, vjp, saved);

    /// <summary>
    /// <see cref="Record{T}(string, Tensor{T}, ReadOnlySpan{Tensor{T}}, VjpFunc{T}, ReadOnlySpan{Tensor{T}})"/> with the
    /// user code's file and line (the op's <c>[CallerFilePath]</c>/<c>[CallerLineNumber]</c>), kept on the node
    /// and named by every backward error about it. An open <see cref="CallSite.Enter"/> scope (an op composed of
    /// other ops, a built-in module) overrides it with the outer caller's line.
    /// </summary>
    internal static Tensor<T> Record<T>(string opName, CallSite callSite, Tensor<T> output, ReadOnlySpan<Tensor<T>> inputs, VjpFunc<T> vjp, params ReadOnlySpan<Tensor<T>?> saved)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(vjp);
        foreach (var input in inputs)
        {
            ArgumentNullException.ThrowIfNull(input, nameof(inputs));
        }

        ThrowIfRecorded(opName, output);
        return Record(output, new DelegateNode<T>(opName, callSite, inputs, vjp, saved));
    }

    /// <summary>
    /// Appends <paramref name="node"/>, just built over the current tape (an op's own node type, which is its
    /// VJP), as the producer of <paramref name="output"/>: marks the output as requiring grad and returns it.
    /// </summary>
    internal static Tensor<T> Record<T>(Tensor<T> output, Node<T> node)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ThrowIfRecorded(node.OpName, output);
        output._gradFn = node;
        output.RequiresGradInternal = true;
        Interlocked.Increment(ref node._tape._recorded);
        if (Anomaly.IsEnabled)
        {
            Anomaly.CheckForward(node, output);
        }

        return output;
    }

    private static void ThrowIfRecorded<T>(string opName, Tensor<T> output)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (output._gradFn is not null)
        {
            throw new InvalidOperationException($"{opName}: the output tensor was already recorded by '{output._gradFn.OpName}'.");
        }
    }

    /// <summary>The next node's place on the tape (global, so that graphs built on several threads still order).</summary>
    internal static long NextSequence() => Interlocked.Increment(ref s_sequence);

    internal void CountReleased() => Interlocked.Increment(ref _released);
}

/// <summary>Restores the previous grad mode when disposed (see <see cref="Tensor.NoGrad"/>).</summary>
public readonly struct GradModeScope : IDisposable
{
    private readonly bool _previous;

    internal GradModeScope(bool enabled)
    {
        _previous = Tape.IsGradEnabled;
        Tape.IsGradEnabled = enabled;
    }

    public void Dispose() => Tape.IsGradEnabled = _previous;
}
