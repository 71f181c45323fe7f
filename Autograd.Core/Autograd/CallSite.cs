using System.Runtime.CompilerServices;

namespace Autograd;

/// <summary>
/// The C# file and line of the user code that recorded a tape node (<see cref="Node.CallSite"/>), taken
/// from <c>[CallerFilePath]</c>/<c>[CallerLineNumber]</c> parameters on the public op entry points. Every
/// backward error names it, so a failing gradient points at the line that recorded the op without a rerun
/// (PyTorch needs anomaly mode for a stack).
/// </summary>
/// <remarks>
/// <para>
/// Which line: that of the innermost call from user code. Library code passes the outer line through: an op
/// composed of other ops (CrossEntropy of LogSoftmax and NllLoss) and a built-in module's <c>Forward</c>
/// open a <see cref="Enter"/> scope, and while one is open every node records that line; a user module's
/// <c>Forward</c> suspends it (<see cref="Suspend"/>), so the ops written inside it name their own lines.
/// </para>
/// <para>
/// C# operators (<c>a * b</c>, <c>x * 0.5f</c>), indexers, properties and <c>params</c>-array overloads cannot
/// take caller information: a node they record outside any scope has no line (<see cref="IsKnown"/> false).
/// Errors then name the operator (<c>'Mul' (node #12, recorded by the C# operator *, ...)</c>) and say how to
/// get the line: record the forward pass inside <see cref="Tensor.DetectAnomaly"/>, which, as PyTorch's
/// anomaly mode keeps the forward traceback, takes such a node's site from the stack (the innermost frame
/// outside the Autograd libraries; file and line need the user's PDB, which every default build has), or
/// call the named method (<c>Mul</c>, <c>Reshape(int, int)</c>).
/// </para>
/// <para>
/// Cost: two words stored per node (a reference to the compiler-interned path string, or for an operator's
/// node to its syntax, and the line); nothing is formatted until an error needs the text. The stack is walked only in anomaly mode
/// and only for nodes without a line; outside it, the check is one read of a static counter.
/// </para>
/// </remarks>
public readonly record struct CallSite(string? FilePath, int Line)
{
    /// <summary>The <see cref="Line"/> that marks a node recorded by a C# operator: its text field holds the operator.</summary>
    private const int OperatorLine = -1;

    /// <summary>The path, or for an operator's node (<see cref="OperatorLine"/>) the operator's syntax: one field for both keeps a node's site two words.</summary>
    private readonly string? _text = FilePath;

    [ThreadStatic]
    private static CallSite t_outer;

    /// <summary>No call site (an operator, a params overload, or a custom op recorded without one).</summary>
    public static CallSite Unknown => default;

    /// <summary>
    /// The C# operator, indexer or property that recorded the node (<c>operator *</c>, <c>indexer x[...]</c>),
    /// which cannot take caller information; null for a named method.
    /// </summary>
    internal string? Operator => Line == OperatorLine ? _text : null;

    /// <summary>The C# file that recorded the node (null when unknown, an operator's node included).</summary>
    public string? FilePath
    {
        get => Line == OperatorLine ? null : _text;
        init => _text = value;
    }

    /// <summary>The site of a node recorded by a C# operator (<paramref name="syntax"/>: <c>operator *</c>): no line, unless anomaly mode finds it.</summary>
    internal static CallSite ForOperator(string syntax) => new(syntax, OperatorLine);

    /// <summary>True when a file and line were recorded.</summary>
    public bool IsKnown => Line > 0 && !string.IsNullOrEmpty(FilePath);

    /// <summary>The file's name without its directory (<c>Train.cs</c>).</summary>
    public string? FileName => IsKnown ? Path.GetFileName(FilePath!.Replace('\\', '/')) : null;

    /// <summary><c>File.cs:line</c>, or <c>unknown</c>.</summary>
    public override string ToString() => IsKnown ? $"{FileName}:{Line}" : "unknown";

    /// <summary>
    /// The site of the calling code, for library helpers and user functions that compose recorded ops and
    /// want the nodes they record to name their own caller's line: <c>using (CallSite.Enter(file, line)) { ... }</c>
    /// with <paramref name="filePath"/> and <paramref name="line"/> taken by <c>[CallerFilePath]</c> and
    /// <c>[CallerLineNumber]</c>. An outer scope that is already open wins (the outermost library frame is the
    /// one next to user code). Per thread; dispose on the thread that entered.
    /// </summary>
    public static CallSiteScope Enter(string? filePath, int line)
    {
        var previous = t_outer;
        if (!previous.IsKnown)
        {
            t_outer = new CallSite(filePath, line);
        }

        return new CallSiteScope(previous);
    }

    /// <summary>
    /// Closes any open <see cref="Enter"/> scope until disposed: the ops recorded meanwhile name their own
    /// lines. A user module's <c>Forward</c> runs inside one, since its code is the user's.
    /// </summary>
    public static CallSiteScope Suspend()
    {
        var previous = t_outer;
        t_outer = default;
        return new CallSiteScope(previous);
    }

    /// <summary>
    /// The one text every error uses for a node: <c>'Mul' (node #12) at Train.cs:42</c>, or without a line
    /// <c>'Mul' (node #12, recorded without a call site: ...)</c>.
    /// </summary>
    internal static string Describe(string opName, long sequence, CallSite site) =>
        (site.IsKnown, site.Operator) switch
        {
            (true, _) => $"'{opName}' (node #{sequence}) at {site}",
            (false, { } syntax) => $"'{opName}' (node #{sequence}, recorded by the C# {syntax}, which cannot take a call site; "
                + $"to get its line, record the forward pass inside Tensor.DetectAnomaly(), or call the named method {opName}(...))",
            _ => $"'{opName}' (node #{sequence}, recorded without a call site: by a C# operator, indexer or params overload, which cannot take one; "
                + $"to get its line, record the forward pass inside Tensor.DetectAnomaly(), or call the named method, e.g. Mul for *)",
        };

    /// <summary>
    /// The site a node records: the open scope's, else this one; without a line, in anomaly mode, the user's
    /// frame on the stack (<see cref="FromStack"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal CallSite Resolve()
    {
        var outer = t_outer;
        if (outer.Line > 0)
        {
            return outer;
        }

        if (Line > 0)
        {
            return this;
        }

        return Anomaly.IsEnabled ? FromStack(this) : Line == OperatorLine ? this : default;
    }

    /// <summary>Assemblies whose frames are library code, skipped when looking for the user's line.</summary>
    private static readonly string[] s_libraries = ["Autograd.Core", "Autograd.Ops", "Autograd.Nn", "Autograd.Testing"];

    /// <summary>
    /// The file and line of the innermost stack frame outside the Autograd libraries (anomaly mode's
    /// substitute for caller information, as PyTorch's anomaly mode stores the forward traceback); no line
    /// when that frame has no file information (no PDB).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static CallSite FromStack(CallSite unknown)
    {
        var frames = new System.Diagnostics.StackTrace(1, fNeedFileInfo: true).GetFrames();
        foreach (var frame in frames)
        {
            var assembly = frame.GetMethod()?.DeclaringType?.Assembly.GetName().Name;
            if (assembly is null || s_libraries.Contains(assembly))
            {
                continue;
            }

            var file = frame.GetFileName();
            var line = frame.GetFileLineNumber();
            return string.IsNullOrEmpty(file) || line <= 0 ? Keep(unknown) : new CallSite(file, line);
        }

        return Keep(unknown);

        // Without a frame that has a line: the operator, if it was one, still names itself.
        static CallSite Keep(CallSite site) => site.Line == OperatorLine ? site : default;
    }

    internal static void Restore(CallSite previous) => t_outer = previous;
}

/// <summary>Restores the enclosing call-site scope when disposed (see <see cref="CallSite.Enter"/>).</summary>
public readonly struct CallSiteScope : IDisposable
{
    private readonly CallSite _previous;

    internal CallSiteScope(CallSite previous) => _previous = previous;

    public void Dispose() => CallSite.Restore(_previous);
}
