// Prints the Stryker.NET mutate patterns of the VJP code, one per line: "<glob>{start..end}...".
// Run by scripts/mutation.sh as a .NET file-based app: dotnet run scripts/mutation-scope.cs -- <Ops|Core|Nn>.
// The spans are character offsets (Stryker mutates a node only when a span contains it), found from the
// source so that they follow the code as it changes:
//   - every Tape.Record(...) call: the VJP closure an op records, with everything it captures inline;
//   - the VJP lambdas an elementwise op hands to ElementwiseOp ("static (g, ...) => ..."), and the node types
//     there that apply them (BinaryNode, UnaryNode, ScalarNode, which are their own VJP) with Saved;
//   - named VJP helpers (Conv2d's Record, ConvPlan's fused Backward, WideConv's WeightGradient/InputGradient and Winograd's
//     filter transform (dX turns the filters), Relu's MaskedGradient, MaxPoolKernel.MaxBackward and RouteMax2x2, Window.ScatterAdd,
//     Embedding's RowSums, Norm's Ties, attention's Backward class and AttentionKernel.Backward,
//     AsStridedBackward, SumToSize: the VJP of every broadcast);
//   - the engine (Engine.cs, Node.cs, PassNodes.cs, PendingGradients.cs) as whole files;
//   - in Autograd.Nn (whose modules' backward is the Ops VJPs they compose) the math that gradients flow
//     through or that acts on them: every Tape.Record call (none today), the optimizers' Step loop and
//     update rules, the schedulers' learning-rate rules, ClipGradNorm/ClipGradValue, Init whole, the loss
//     modules' ForwardCore and the normalisation modules' ForwardCore/Normalize (the running statistics'
//     momentum and batch count).
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

// Every member named `signature` (all overloads and overrides): from the name to the end of its block
// body, or of its expression body (the ';' that ends it, outside brackets).
IEnumerable<(int, int)> Members(string text, string signature)
{
    var found = false;
    for (var at = text.IndexOf(signature, StringComparison.Ordinal); at >= 0; at = text.IndexOf(signature, at + 1, StringComparison.Ordinal))
    {
        // The parameter list's '(' ends the signature (or is the last '(' in it); a where-clause may follow it.
        var body = Close(text, signature.EndsWith('(') ? at + signature.Length - 1 : text.LastIndexOf('(', at + signature.Length - 1));
        while (text[body] != '{' && text[body] != ';' && !(text[body] == '=' && text[body + 1] == '>'))
        {
            body++;
        }

        if (text[body] == ';')
        {
            continue;   // abstract: no body
        }

        found = true;
        if (text[body] == '{')
        {
            yield return (at, Close(text, body));
            continue;
        }

        var end = body;
        while (text[end] != ';')
        {
            end = text[end] is '(' or '[' or '{' ? Close(text, end) : end + 1;
        }

        yield return (at, end + 1);
    }

    if (!found)
    {
        throw new InvalidOperationException($"no member '{signature}'");
    }
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
else if (project == "Nn")
{
    var rules = new (string File, string[] Members)[]
    {
        ("Autograd.Nn/Optim/Optimizer.cs", ["public override void Step("]),
        ("Autograd.Nn/Optim/SGD.cs", ["void Update("]),
        ("Autograd.Nn/Optim/Adam.cs", ["void Update("]),
        ("Autograd.Nn/Optim/RMSprop.cs", ["void Update("]),
        ("Autograd.Nn/Optim/Adagrad.cs", ["void Update("]),
        ("Autograd.Nn/Optim/LRScheduler.cs", ["public virtual void Step(", "void ApplyAt(", "void Apply(", "double LearningRate("]),
        ("Autograd.Nn/Optim/LambdaLR.cs", ["double LearningRate("]),
        ("Autograd.Nn/Optim/LinearLR.cs", ["double LearningRate("]),
        ("Autograd.Nn/Optim/OneCycleLR.cs", ["double LearningRate(", "void Apply(", "(double Lr, double Momentum) At(", "double Anneal("]),
        ("Autograd.Nn/Optim/ReduceLROnPlateau.cs", ["public void Step(double metric)", "bool IsBetter(", "double LearningRate("]),
        ("Autograd.Nn/Optim/SequentialLR.cs", ["void Apply(", "double LearningRate(", "Active(int epoch)"]),
        ("Autograd.Nn/Utils.cs", ["double ClipGradNorm<T>(", "void ClipGradValue<T>("]),
        ("Autograd.Nn/Layers/Losses.cs", ["Tensor<T> ForwardCore("]),
        ("Autograd.Nn/Layers/Normalization.cs", ["Tensor<T> ForwardCore(", "Tensor<T> Normalize("]),
    };
    foreach (var (file, members) in rules)
    {
        var text = Read(file);
        Add(file, members.SelectMany(m => Members(text, m)).Concat(Calls(text, "Tape.Record(")));
    }

    patterns.Add("**/Autograd.Nn/Init.cs");
    foreach (var file in Directory.GetFiles(Path.Combine(root, "Autograd.Nn"), "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")).Order(StringComparer.Ordinal))
    {
        var relative = Path.GetRelativePath(root, file);
        if (!rules.Any(r => r.File == relative))
        {
            Add(relative, Calls(File.ReadAllText(file), "Tape.Record("));
        }
    }
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
