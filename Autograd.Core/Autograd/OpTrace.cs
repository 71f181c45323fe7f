namespace Autograd;

/// <summary>
/// One op call seen while an <see cref="OpTrace"/> was open: the op's name, its output, its inputs (tensors,
/// <see cref="IndexTensor"/>s, or a boxed <c>double</c> for a C# scalar operand; null for an absent optional
/// input) and the attributes its result depends on beyond the inputs' values and shapes.
/// </summary>
internal sealed record TracedOp(string OpName, object Output, object?[] Inputs, IReadOnlyDictionary<string, object?> Attributes);

/// <summary>
/// The exporter's tracing hook (Autograd.Nn's ONNX export): while a trace is open on this thread, each op that has
/// an ONNX form reports its call here, keyed by its output, so that one forward pass leaves a graph of op names,
/// inputs and attributes. Ops outside that set report nothing; the exporter finds them through the tape
/// (the traced forward runs in grad mode with its input requiring grad) and names them with their call site.
/// </summary>
/// <remarks>
/// An op composed of other reporting ops and reporting itself (BatchNorm2d) replaces their entry for its output, so
/// the exporter sees the composite. Costs one thread-static read per op call when no trace is open.
/// </remarks>
internal sealed class OpTrace : IDisposable
{
    [ThreadStatic]
    private static OpTrace? t_current;

    private readonly OpTrace? _previous;
    private readonly Dictionary<object, TracedOp> _byOutput = new(ReferenceEqualityComparer.Instance);

    private OpTrace()
    {
        _previous = t_current;
        t_current = this;
    }

    /// <summary>True while a trace is open on this thread: ops check it before building their report.</summary>
    internal static bool IsActive => t_current is not null;

    /// <summary>Opens a trace on this thread until disposed.</summary>
    internal static OpTrace Begin() => new();

    /// <summary>The op that produced <paramref name="output"/> during this trace, if it reported.</summary>
    internal TracedOp? ProducerOf(object output) => _byOutput.GetValueOrDefault(output);

    /// <summary>Reports one op call (nothing when no trace is open).</summary>
    internal static void Add(string opName, object output, object?[] inputs, params (string Name, object? Value)[] attributes)
    {
        if (t_current is { } trace)
        {
            trace._byOutput[output] = new TracedOp(opName, output, inputs, attributes.ToDictionary(a => a.Name, a => a.Value));
        }
    }

    /// <summary>Adds attributes to the entry already reported for <paramref name="output"/> (an op built on a generic reporting path).</summary>
    internal static void Annotate(object output, params (string Name, object? Value)[] attributes)
    {
        if (t_current is { } trace && trace._byOutput.TryGetValue(output, out var op))
        {
            var merged = new Dictionary<string, object?>(op.Attributes);
            foreach (var (name, value) in attributes)
            {
                merged[name] = value;
            }

            trace._byOutput[output] = op with { Attributes = merged };
        }
    }

    public void Dispose() => t_current = _previous;
}
