// Prints the Stryker.NET mutate patterns of the VJP code, one per line: "<glob>{start..end}...".
// Run by scripts/mutation.sh as a .NET file-based app: dotnet run scripts/mutation-scope.cs -- <Ops|Core>.
// The spans are character offsets (Stryker mutates a node only when a span contains it), found from the
// source so that they follow the code as it changes:
//   - every Tape.Record(...) call: the VJP closure an op records, with everything it captures inline;
//   - the VJP lambdas an elementwise op hands to ElementwiseOp ("static (g, ...) => ..."), and the node types
//     there that apply them (BinaryNode, UnaryNode, ScalarNode, which are their own VJP) with Saved;
//   - named VJP helpers (Conv2d's Record, ConvPlan's fused Backward, WideConv's WeightGradient/InputGradient and Winograd's
//     filter transform (dX turns the filters), Relu's MaskedGradient, MaxPoolKernel.MaxBackward and RouteMax2x2, Window.ScatterAdd,
//     Embedding's RowSums, Norm's Ties, attention's Backward class and AttentionKernel.Backward,
//     AsStridedBackward, SumToSize: the VJP of every broadcast);
//   - the engine (Engine.cs, Node.cs, PassNodes.cs, PendingGradients.cs) as whole files.
var project = args.Length > 0 ? args[0] : "Ops";
var root = Directory.GetCurrentDirectory();
var patterns = new List<string>();

void Add(string relative, IEnumerable<(int Start, int End)> spans)
{
    var list = spans.Where(s => s.End > s.Start).ToList();
    if (list.Count > 0)
    {
        patterns.Add($"**/{relative}" + string.Concat(list.Select(s => $"{{{s.Start}..{s.End}}}")));
    }
}

// The index just past the bracket that closes the one at `open`, skipping strings, chars and comments.
static int Close(string text, int open)
{
    var (opening, closing) = text[open] switch { '(' => ('(', ')'), '{' => ('{', '}'), _ => ('[', ']') };
    var depth = 0;
    for (var i = open; i < text.Length; i++)
    {
        var ch = text[i];
        if (ch == '/' && i + 1 < text.Length && text[i + 1] == '/')
        {
            i = text.IndexOf('\n', i);
            continue;
        }

        if (ch == '"' || ch == '\'')
        {
            // Interpolated strings in this code never nest quotes inside holes.
            for (i++; i < text.Length && text[i] != ch; i++)
            {
                if (text[i] == '\\')
                {
                    i++;
                }
            }

            continue;
        }

        if (ch == opening)
        {
            depth++;
        }
        else if (ch == closing && --depth == 0)
        {
            return i + 1;
        }
    }

    throw new InvalidOperationException($"unbalanced {opening} at {open}");
}

IEnumerable<(int, int)> Calls(string text, string marker)
{
    for (var at = text.IndexOf(marker, StringComparison.Ordinal); at >= 0; at = text.IndexOf(marker, at + 1, StringComparison.Ordinal))
    {
        yield return (at, Close(text, at + marker.Length - 1));
    }
}

// From the method's name to the end of its body (the first '{' after the name opens the body).
IEnumerable<(int, int)> Method(string text, string signature)
{
    var at = text.IndexOf(signature, StringComparison.Ordinal);
    if (at < 0)
    {
        throw new InvalidOperationException($"no method '{signature}'");
    }

    yield return (at, Close(text, text.IndexOf('{', at)));
}

// Elementwise VJP formulas: from the first "static (" of the statement to its ';'.
IEnumerable<(int, int)> StaticLambdas(string text)
{
    var at = text.IndexOf("static (", StringComparison.Ordinal);
    while (at >= 0)
    {
        var end = text.IndexOf(';', at);
        yield return (at, end);
        at = text.IndexOf("static (", end, StringComparison.Ordinal);
    }
}

string Read(string relative) => File.ReadAllText(Path.Combine(root, relative));

if (project == "Core")
{
    patterns.Add("**/Autograd.Core/Autograd/Engine.cs");
    patterns.Add("**/Autograd.Core/Autograd/Node.cs");
    patterns.Add("**/Autograd.Core/Autograd/PassNodes.cs");
    patterns.Add("**/Autograd.Core/Autograd/PendingGradients.cs");
    var views = Read("Autograd.Core/Tensors/Tensor.Views.cs");
    Add("Autograd.Core/Tensors/Tensor.Views.cs", Calls(views, "Tape.Record(").Concat(Method(views, "AsStridedBackward(")).Concat(Method(views, "Tensor<T> SumToSize(")));
}
else
{
    foreach (var file in Directory.GetFiles(Path.Combine(root, "Autograd.Ops"), "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")).Order(StringComparer.Ordinal))
    {
        var text = File.ReadAllText(file);
        var name = Path.GetFileName(file);
        if (text.Contains("namespace Autograd.Kernels;", StringComparison.Ordinal))
        {
            continue;   // kernels: only their named VJP helpers below are in scope
        }

        var spans = Calls(text, "Tape.Record(").Concat(StaticLambdas(text));
        if (name == "Relu.cs")
        {
            spans = spans.Concat(Method(text, "MaskedGradient<T>("));
        }

        if (name == "ElementwiseOp.cs")
        {
            spans = spans.Concat(Method(text, "class BinaryNode<T>")).Concat(Method(text, "class UnaryNode<T>"))
                .Concat(Method(text, "class ScalarNode<T>")).Concat(Method(text, "Tensor<T> Saved<T>("));
        }

        if (name == "Conv2d.cs")
        {
            spans = spans.Concat(Method(text, "void Record<T>("));
        }

        // VJPs written as named helpers: Embedding's row sums, Norm's tie split, attention's backward (both paths).
        spans = name switch
        {
            "Embedding.cs" => spans.Concat(Method(text, "Tensor<T> RowSums<T>(")),
            "Norm.cs" => spans.Concat(Method(text, "Tensor<T> Ties<T>(")),
            "ScaledDotProductAttention.cs" => spans.Concat(Method(text, "private sealed class Backward<T>(")),
            _ => spans,
        };

        Add(Path.GetRelativePath(root, file), spans);
    }

    var pool = Read("Autograd.Ops/Pooling/MaxPoolKernel.cs");
    Add("Autograd.Ops/Pooling/MaxPoolKernel.cs", Method(pool, "MaxBackward<T, TIndex>(").Concat(Method(pool, "RouteMax2x2<TF, TI, TL>(")));
    // Conv2d's VJP without createGraph: dX and dW in one pass over the images.
    Add("Autograd.Ops/Conv/ConvPlan.cs", Method(Read("Autograd.Ops/Conv/ConvPlan.cs"), "Backward<T>("));
    var wide = Read("Autograd.Ops/Conv/WideConv.cs");
    Add("Autograd.Ops/Conv/WideConv.cs", Method(wide, "WeightGradient<T>(").Concat(Method(wide, "InputGradient<T>(")));
    Add("Autograd.Ops/Conv/Window.cs", Method(Read("Autograd.Ops/Conv/Window.cs"), "ScatterAdd<T>("));

    Add("Autograd.Ops/Attention/AttentionKernel.cs", Method(Read("Autograd.Ops/Attention/AttentionKernel.cs"), "public static void Backward<T>("));

    // Winograd's dX is the full convolution with the turned filters: the turning is in the filter transform.
    Add("Autograd.Ops/Conv/Winograd.cs", Method(Read("Autograd.Ops/Conv/Winograd.cs"), "public Filters("));
}

foreach (var p in patterns)
{
    Console.WriteLine(p);
}
