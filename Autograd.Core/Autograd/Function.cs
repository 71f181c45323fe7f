using System.Numerics;
using System.Runtime.CompilerServices;

namespace Autograd;

/// <summary>
/// A user-defined differentiable op, as PyTorch's <c>torch.autograd.Function</c>: <see cref="Forward"/>
/// computes the output and <see cref="Backward"/> maps the output's gradient to the inputs' gradients.
/// <see cref="Apply(Tensor{T}[])"/> runs the forward and records one node on the tape, exactly as a built-in op does,
/// so <c>Backward()</c>, <c>Tensor.NoGrad()</c> and GradCheck treat the two alike.
/// </summary>
/// <remarks>
/// One instance may be applied many times: per-call data (saved tensors, argmax indices, ...) goes in
/// the <see cref="FunctionContext{T}"/>, while constructor arguments (stride, epsilon, ...) are the op's
/// configuration. The forward runs with grad mode off, so the ops it uses inside are its implementation
/// and are not recorded separately. The backward runs with grad mode off, unless the op declares
/// <see cref="IsBackwardDifferentiable"/>: then, under createGraph, the ops its backward uses are
/// recorded and its gradients can be differentiated again. An op that does not declare it still works
/// with createGraph, but differentiating its gradients throws (PyTorch's once_differentiable) rather than
/// silently returning zero.
/// </remarks>
public abstract class Function<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The name the tape and error messages show; the type's name unless overridden.</summary>
    public virtual string Name => GetType().Name;

    /// <summary>
    /// True when <see cref="Backward"/> computes its gradients only with differentiable ops on tensors
    /// (the saved tensors and the gradient it is given), so that createGraph can record it for a second
    /// derivative. False by default: the backward may read raw values, and is then once differentiable.
    /// </summary>
    public virtual bool IsBackwardDifferentiable => false;

    /// <summary>
    /// Computes the output from <paramref name="inputs"/>. Save with
    /// <see cref="FunctionContext{T}.SaveForBackward"/> what <see cref="Backward"/> needs.
    /// </summary>
    protected abstract Tensor<T> Forward(FunctionContext<T> ctx, Tensor<T>[] inputs);

    /// <summary>
    /// The vector-Jacobian product: given dL/d(output), writes dL/d(input i) into
    /// <paramref name="inputGrads"/>[i], with input i's shape. Leave null the inputs that get none
    /// (<see cref="FunctionContext{T}.NeedsInputGrad"/> says which are wanted).
    /// </summary>
    protected abstract void Backward(FunctionContext<T> ctx, Tensor<T> gradOutput, Span<Tensor<T>?> inputGrads);

    /// <summary>Runs the op on <paramref name="inputs"/> and, when any of them requires grad, records it.</summary>
    /// <remarks>A params call records no call site; the overloads of one to three inputs do.</remarks>
    public Tensor<T> Apply(params Tensor<T>[] inputs) => Apply(inputs, CallSite.Unknown);

    /// <inheritdoc cref="Apply(Tensor{T}[])"/>
    public Tensor<T> Apply(Tensor<T> x, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => Apply([x], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Apply(Tensor{T}[])"/>
    public Tensor<T> Apply(Tensor<T> x, Tensor<T> y, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => Apply([x, y], new CallSite(callerFile, callerLine));

    /// <inheritdoc cref="Apply(Tensor{T}[])"/>
    public Tensor<T> Apply(Tensor<T> x, Tensor<T> y, Tensor<T> z, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0) => Apply([x, y, z], new CallSite(callerFile, callerLine));

    private Tensor<T> Apply(Tensor<T>[] inputs, CallSite site)
    {
        var name = Name;
        var captured = Function.CheckInputs(name, inputs);
        var ctx = new FunctionContext<T>(name, captured);
        Tensor<T>? output;
        using (Tensor.NoGrad())
        {
            output = Forward(ctx, (Tensor<T>[])captured.Clone());
        }

        VjpFunc<T> vjp = (g, grads) => Backward(ctx, g, grads);
        return Function.Record(name, site, output, captured, IsBackwardDifferentiable ? vjp : Function.OnceDifferentiable(name, captured, vjp));
    }
}

/// <summary>Per-call state of a <see cref="Function{T}"/>: what the forward leaves for the backward (PyTorch's ctx).</summary>
public sealed class FunctionContext<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly string _name;
    private readonly Tensor<T>[] _inputs;
    private readonly bool[] _needsInputGrad;
    private Tensor<T>[] _saved = [];
    private int[] _savedVersions = [];

    internal FunctionContext(string name, Tensor<T>[] inputs)
    {
        _name = name;
        _inputs = inputs;
        _needsInputGrad = Array.ConvertAll(inputs, static t => t.RequiresGrad);
    }

    /// <summary>Number of tensor inputs of this call.</summary>
    public int InputCount => _inputs.Length;

    /// <summary>
    /// Whether input <paramref name="input"/> wants a gradient, so a backward can skip the rest: whether it
    /// required grad when the op was applied (the graph's edges are fixed then).
    /// </summary>
    public bool NeedsInputGrad(int input) => _needsInputGrad[input];

    /// <summary>The shape of input <paramref name="input"/>, e.g. to reduce a broadcast gradient back to it.</summary>
    public int[] InputShape(int input) => _inputs[input].Shape;

    /// <summary>
    /// Keeps tensors for the backward. Their storage versions are noted, so that a backward reading a
    /// tensor that was changed in place after the forward fails loudly instead of returning a wrong gradient.
    /// </summary>
    public void SaveForBackward(params Tensor<T>[] tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        _saved = (Tensor<T>[])tensors.Clone();
        _savedVersions = new int[_saved.Length];
        for (var i = 0; i < _saved.Length; i++)
        {
            var t = _saved[i] ?? throw new ArgumentException($"{_name}: SaveForBackward got null at position {i}.", nameof(tensors));
            _savedVersions[i] = t.Storage.Version;
        }
    }

    /// <summary>The tensors given to <see cref="SaveForBackward"/>, in order.</summary>
    public IReadOnlyList<Tensor<T>> SavedTensors
    {
        get
        {
            for (var i = 0; i < _saved.Length; i++)
            {
                var version = _saved[i].Storage.Version;
                if (version != _savedVersions[i])
                {
                    throw new InvalidOperationException(
                        $"{_name}: saved tensor {i} (shape {ShapeMath.Format(_saved[i].Shape)}) was modified in place after the forward "
                        + $"(storage version {version}, saved at {_savedVersions[i]}); its gradient would be wrong.");
                }
            }

            return _saved;
        }
    }

    /// <summary>Anything else the backward needs (indices, sizes, flags); cast it back there.</summary>
    public object? State { get; set; }
}

/// <summary>Custom ops written as one lambda that returns the output together with its VJP.</summary>
public static class Function
{
    /// <summary>
    /// Runs <paramref name="forward"/> on <paramref name="inputs"/> with grad mode off and, when any input
    /// requires grad, records the VJP it returned on the tape under <paramref name="name"/>. The VJP
    /// captures whatever it needs, micrograd-style:
    /// <code>
    /// var y = Function.Apply("Square", [x], xs =>
    /// {
    ///     var v = xs[0].ToArray();
    ///     ...
    ///     return (output, (g, grads) => grads[0] = ...); // d(x²)/dx = 2x
    /// });
    /// </code>
    /// </summary>
    /// <param name="name">The op's name on the tape and in errors.</param>
    /// <param name="inputs">The tensor inputs.</param>
    /// <param name="forward">Computes the output and returns it with its VJP.</param>
    /// <param name="differentiableBackward">
    /// The VJP uses only differentiable ops on tensors, so createGraph may record it (see
    /// <see cref="Function{T}.IsBackwardDifferentiable"/>); otherwise differentiating its gradients throws.
    /// </param>
    /// <param name="callerFile">Filled in by the compiler: the calling file, kept on the tape node (<see cref="CallSite"/>).</param>
    /// <param name="callerLine">Filled in by the compiler: the calling line, kept on the tape node.</param>
    public static Tensor<T> Apply<T>(string name, Tensor<T>[] inputs, Func<Tensor<T>[], (Tensor<T> Output, VjpFunc<T> Vjp)> forward, bool differentiableBackward = false, [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(forward);
        var captured = CheckInputs(name, inputs);
        Tensor<T>? output;
        VjpFunc<T>? vjp;
        using (Tensor.NoGrad())
        {
            (output, vjp) = forward((Tensor<T>[])captured.Clone());
        }

        if (vjp is null)
        {
            throw new InvalidOperationException($"{name}: the forward returned no VJP.");
        }

        return Record(name, new CallSite(callerFile, callerLine), output, captured, differentiableBackward ? vjp : OnceDifferentiable(name, captured, vjp));
    }

    /// <summary>
    /// Wraps a VJP that is not differentiable. Without createGraph (grad mode off in the pass) it runs as
    /// is. Under createGraph it runs with grad mode off, and each gradient it returns is recorded as the
    /// output of an op whose own VJP throws: a second derivative through this op fails loudly instead of
    /// coming out as zero.
    /// </summary>
    internal static VjpFunc<T> OnceDifferentiable<T>(string name, Tensor<T>[] inputs, VjpFunc<T> vjp)
        where T : unmanaged, IFloatingPointIeee754<T>
        => (g, grads) =>
        {
            if (!Tape.IsGradEnabled)
            {
                vjp(g, grads);
                return;
            }

            using (Tensor.NoGrad())
            {
                vjp(g, grads);
            }

            Tensor<T>[] sources = [g, .. inputs];
            if (!Tape.ShouldRecord<T>(sources))
            {
                return;
            }

            for (var i = 0; i < grads.Length; i++)
            {
                if (grads[i] is { } gi)
                {
                    grads[i] = Tape.Record($"{name}Backward", gi.Detach(), sources, (_, _) => throw new InvalidOperationException(
                        $"{name}: its backward is not differentiable, so its gradients cannot be differentiated again (a second derivative, createGraph). "
                        + "Write the backward with differentiable tensor ops and declare it: override IsBackwardDifferentiable, or pass differentiableBackward: true."));
                }
            }
        };

    internal static Tensor<T>[] CheckInputs<T>(string name, Tensor<T>[] inputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        for (var i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is null)
            {
                throw new ArgumentException($"{name}: input {i} is null.", nameof(inputs));
            }
        }

        // A private copy: the caller may reuse its array, and the node must keep the inputs it ran on.
        return (Tensor<T>[])inputs.Clone();
    }

    internal static Tensor<T> Record<T>(string name, CallSite site, Tensor<T>? output, Tensor<T>[] inputs, VjpFunc<T> vjp)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (output is null)
        {
            throw new InvalidOperationException($"{name}: the forward returned null.");
        }

        // The node must own its output: an input handed back as is, or a tensor another op already
        // recorded, gets a fresh tensor object over the same storage.
        if (output._gradFn is not null || output.RequiresGrad || Array.IndexOf(inputs, output) >= 0)
        {
            output = output.Detach();
        }

        if (!Tape.ShouldRecord<T>(inputs))
        {
            return output;
        }

        // User code: its VJP may keep or share the tensors it is given or returns, so its node is not
        // built in and the engine never recycles their buffers early.
        return Tape.Record(output, new FunctionNode<T>(name, site, inputs, vjp));
    }
}
