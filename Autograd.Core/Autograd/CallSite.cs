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
/// C# operators (<c>a * b</c>, <c>x * 0.5f</c>) and <c>params</c>-array overloads cannot take caller
/// information: a node they record outside any scope has no line (<see cref="IsKnown"/> false), and errors
/// say so and suggest the named method (<c>Mul</c>, <c>Reshape(int, int)</c>).
/// </para>
/// <para>
/// Cost: two words stored per node (a reference to the compiler-interned path string and the line);
/// nothing is formatted until an error needs the text.
/// </para>
/// </remarks>
public readonly record struct CallSite(string? FilePath, int Line)
{
    [ThreadStatic]
    private static CallSite t_outer;

    /// <summary>No call site (an operator, a params overload, or a custom op recorded without one).</summary>
    public static CallSite Unknown => default;

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
        site.IsKnown
            ? $"'{opName}' (node #{sequence}) at {site}"
            : $"'{opName}' (node #{sequence}, recorded without a call site: by a C# operator or a params overload, which cannot take one; "
                + "call the named method, e.g. Mul for *, to get the line)";

    /// <summary>The site a node records: the open scope's, else this one (<see cref="Unknown"/> without a line).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal CallSite Resolve()
    {
        var outer = t_outer;
        return outer.Line > 0 ? outer : Line > 0 ? this : default;
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
