using System.Runtime.CompilerServices;
using Autograd;

namespace Autograd.Tests.Reliability;

/// <summary>
/// Every tape node names the file and line of the user code that recorded it, composed ops included, and
/// every backward error names the op and that line. Expected lines come from [CallerLineNumber], so they
/// cannot drift when this file changes.
/// </summary>
public class CallSiteTests
{
    private const string ThisFile = "CallSiteTests.cs";

    private static int Line([CallerLineNumber] int line = 0) => line;

    /// <summary>One op call written on the same line as the <see cref="At"/> call that registers it.</summary>
    public sealed record Case(string Name, Func<Tensor<double>> Run, int Line)
    {
        public override string ToString() => Name;
    }

    private static Case At(string name, Func<Tensor<double>> run, [CallerLineNumber] int line = 0) => new(name, run, line);

    private static Tensor<double> Leaf(params int[] shape)
    {
        var n = shape.Aggregate(1, (a, b) => a * b);
        return Tensor.FromArray([.. Enumerable.Range(0, n).Select(i => 0.3 + (0.7 * ((i * 7) % 11) / 11.0))], shape, requiresGrad: true);
    }

    private static IEnumerable<Case> Ops()
    {
        var a = Leaf(2, 3);
        var b = Leaf(2, 3);
        var m = Leaf(3, 4);
        var img = Leaf(2, 2, 5, 5);
        var w = Leaf(3, 2, 3, 3);
        var wt = Leaf(2, 3, 3, 3);
        var bias = Leaf(3);
        var mask = Tensor.FromArray([1.0, 0, 1, 0, 1, 0], [2, 3]);
        int[] targets = [2, 0];
        var index = IndexTensor.FromArray([0L, 1, 0, 1, 0, 1], [2, 3]);
        yield return At("Add", () => a.Add(b));
        yield return At("Sub", () => a.Sub(b));
        yield return At("Mul", () => a.Mul(b));
        yield return At("Div", () => a.Div(b));
        yield return At("Neg", () => a.Neg());
        yield return At("Exp", () => a.Exp());
        yield return At("Log", () => a.Log());
        yield return At("Sqrt", () => a.Sqrt());
        yield return At("Rsqrt", () => a.Rsqrt());
        yield return At("Square", () => a.Square());
        yield return At("Abs", () => a.Abs());
        yield return At("Sign", () => a.Sign());
        yield return At("Pow", () => a.Pow(3.0));
        yield return At("PowTensor", () => a.Pow(b));
        yield return At("PowScalarBase", () => Tensor.Pow(2.0, a));
        yield return At("Clamp", () => a.Clamp(0.4, 0.8));
        yield return At("Maximum", () => a.Maximum(b));
        yield return At("Minimum", () => a.Minimum(b));
        yield return At("Relu", () => a.Relu());
        yield return At("LeakyRelu", () => a.LeakyRelu());
        yield return At("Sigmoid", () => a.Sigmoid());
        yield return At("Tanh", () => a.Tanh());
        yield return At("Softplus", () => a.Softplus());
        yield return At("Erf", () => a.Erf());
        yield return At("Gelu", () => a.Gelu());
        yield return At("GeluTanh", () => a.Gelu("tanh"));
        yield return At("Where", () => a.Where(mask, b));
        yield return At("MaskedFill", () => a.MaskedFill(mask, 2.0));
        yield return At("Sum", () => a.Sum());
        yield return At("SumDim", () => a.Sum(1));
        yield return At("Mean", () => a.Mean());
        yield return At("MeanDim", () => a.Mean(0, keepDim: true));
        yield return At("Max", () => a.Max());
        yield return At("MaxDim", () => a.Max(1));
        yield return At("Min", () => a.Min());
        yield return At("MinDim", () => a.Min(0));
        yield return At("Prod", () => a.Prod());
        yield return At("ProdDim", () => a.Prod(1));
        yield return At("Var", () => a.Var(1));
        yield return At("Std", () => a.Std());
        yield return At("LogSumExp", () => a.LogSumExp(1));
        yield return At("Softmax", () => a.Softmax(1));
        yield return At("LogSoftmax", () => a.LogSoftmax(1));
        yield return At("MatMul", () => a.MatMul(m));
        yield return At("Cat", () => Tensor.Cat([a, b], 1));
        yield return At("Stack", () => Tensor.Stack([a, b]));
        yield return At("Split", () => a.Split(1, 1)[2]);
        yield return At("Chunk", () => a.Chunk(2, 1)[1]);
        yield return At("Gather", () => a.Gather(1, index));
        yield return At("IndexSelect", () => a.IndexSelect(1, [2, 0]));
        yield return At("ScatterAdd", () => a.ScatterAdd(1, index, b));
        yield return At("Dropout", () => a.Dropout(0.5, training: true, new Generator(1)));
        yield return At("CrossEntropy", () => a.CrossEntropy(targets));
        yield return At("CrossEntropySmoothed", () => a.CrossEntropy(targets, weight: Tensor.FromArray([1.0, 2, 3], [3]), labelSmoothing: 0.1));
        yield return At("NllLoss", () => a.NllLoss(targets));
        yield return At("MseLoss", () => a.MseLoss(b));
        yield return At("L1Loss", () => a.L1Loss(b));
        yield return At("BinaryCrossEntropyWithLogits", () => a.BinaryCrossEntropyWithLogits(mask));
        yield return At("LayerNorm", () => a.LayerNorm([3], bias, bias));
        yield return At("BatchNorm2d", () => img.BatchNorm2d(null, null, Leaf(2), Leaf(2), training: true));
        yield return At("Conv2d", () => img.Conv2d(w, bias, padding: 1));
        yield return At("ConvTranspose2d", () => img.ConvTranspose2d(wt, bias, stride: 2));
        yield return At("MaxPool2d", () => img.MaxPool2d(2));
        yield return At("AvgPool2d", () => img.AvgPool2d(2));
        yield return At("AdaptiveAvgPool2d", () => img.AdaptiveAvgPool2d(2));
        yield return At("Reshape", () => a.Reshape(3, 2));
        yield return At("ReshapeCopy", () => a.Transpose(0, 1).Reshape(6));
        yield return At("View", () => a.View(6));
        yield return At("Flatten", () => img.Flatten(1));
        yield return At("Transpose", () => a.Transpose(0, 1));
        yield return At("Permute", () => img.Permute(0, 2, 3, 1));
        yield return At("Slice", () => a.Slice(1, 0, 3, 2));
        yield return At("Narrow", () => a.Narrow(1, 1, 2));
        yield return At("Select", () => a.Select(0, 1));
        yield return At("Unsqueeze", () => a.Unsqueeze(0));
        yield return At("Squeeze", () => a.Unsqueeze(0).Squeeze(0));
        yield return At("Expand", () => bias.Expand(2, 3));
        yield return At("AsStrided", () => a.AsStrided([3], [2]));
        yield return At("Contiguous", () => a.Transpose(0, 1).Contiguous());
        yield return At("Clone", () => a.Clone());
    }

    [TestCaseSource(nameof(Ops))]
    public void EveryNodeAnOpRecords_NamesTheUsersLine(Case c)
    {
        var y = c.Run();
        var nodes = Graph(y);
        Assert.That(nodes, Is.Not.Empty, $"{c.Name} recorded nothing");
        foreach (var node in nodes)
        {
            Assert.That(node.CallSite.FileName, Is.EqualTo(ThisFile), $"{c.Name}: node {node} names {node.CallSite}");
            Assert.That(node.CallSite.Line, Is.EqualTo(c.Line), $"{c.Name}: node {node} names {node.CallSite}");
        }
    }

    /// <summary>Every node reachable from <paramref name="y"/> through inputs that require grad.</summary>
    private static List<Node> Graph<T>(Tensor<T> y)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var seen = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<Node<T>>();
        if (y.GradFn is Node<T> root)
        {
            stack.Push(root);
        }

        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (!seen.Add(node))
            {
                continue;
            }

            foreach (var input in node.Inputs)
            {
                if (input.GradFn is Node<T> producer)
                {
                    stack.Push(producer);
                }
            }
        }

        return [.. seen];
    }

    [Test]
    public void AComposedOp_RecordsSeveralNodes_AllAtTheUsersLine()
    {
        var logits = Leaf(4, 5);
        var loss = logits.CrossEntropy([1, 0, 4, 2], labelSmoothing: 0.2); var line = Line();
        var nodes = Graph(loss);
        Assert.That(nodes.Select(n => n.OpName).Distinct().Count(), Is.GreaterThan(2), "CrossEntropy with smoothing is composed of several ops");
        Assert.That(nodes.Select(n => n.CallSite), Is.All.EqualTo(nodes[0].CallSite));
        Assert.That(nodes[0].CallSite.FileName, Is.EqualTo(ThisFile));
        Assert.That(nodes[0].CallSite.Line, Is.EqualTo(line));
    }

    [Test]
    public void StaticWhere_RecordsTheUsersLine()
    {
        var x = Leaf(3);
        var y = Leaf(3);
        var condition = Tensor.FromArray([1.0, 0.0, 1.0], [3]);
        var z = Tensor.Where(condition, x, y); var line = Line();
        Assert.That(z.GradFn!.CallSite.FileName, Is.EqualTo(ThisFile));
        Assert.That(z.GradFn.CallSite.Line, Is.EqualTo(line));
    }

    [Test]
    public void Operators_RecordNoLine_AndTheirErrorsSaySo()
    {
        var a = Leaf(3);
        var y = a * 2.0;
        Assert.That(y.GradFn!.CallSite.IsKnown, Is.False);
        var ex = Assert.Throws<SavedTensorModifiedException>(() =>
        {
            var b = Leaf(3);
            var z = (a * b).Sum();
            using (Tensor.NoGrad())
            {
                b.AddInPlace(1.0);
            }

            z.Backward();
        })!;
        Assert.That(ex.CallSite.IsKnown, Is.False);
        Assert.That(ex.Message, Does.Contain("'Mul'").And.Contain("recorded by the C# operator *").And.Contain("Tensor.DetectAnomaly()"));
    }

    [Test]
    public void EachOperator_IsNamedInItsErrors()
    {
        var a = Leaf(3);
        var b = Leaf(3);
        foreach (var (y, text) in new[] { (a + b, "operator +"), (a - b, "operator -"), (a * b, "operator *"), (a / b, "operator /"), (-a, "unary operator -"), (a * 2.0, "operator *"), (1.0 - a, "operator -") })
        {
            Assert.That(y.GradFn!.CallSite.IsKnown, Is.False, text);
            Assert.That(y.GradFn.ToString(), Does.Not.Contain(" at "), text);
            Assert.That(CallSite.Describe(y.GradFn.OpName, y.GradFn.Sequence, y.GradFn.CallSite), Does.Contain($"recorded by the C# {text},"), text);
        }
    }

    [Test]
    public void InAnomalyMode_AnOperatorRecordsTheLineFromTheStack()
    {
        // PyTorch's anomaly mode keeps the forward traceback; here it fills in the site of the nodes that C#
        // operators record, so the backward error names the user's line.
        var w = Leaf(3);
        int line;
        Tensor<double> loss;
        using (Tensor.DetectAnomaly())
        {
            loss = (w * w).Sum(); line = Line();
        }

        var mul = ((Node<double>)loss.GradFn!).Inputs[0].GradFn!;
        Assert.That(mul.OpName, Is.EqualTo("Mul"));
        Assert.That(mul.CallSite.FileName, Is.EqualTo(ThisFile));
        Assert.That(mul.CallSite.Line, Is.EqualTo(line));
        using (Tensor.NoGrad())
        {
            w.AddInPlace(1.0);
        }

        var ex = Assert.Throws<SavedTensorModifiedException>(() => loss.Backward())!;
        Assert.That(ex.Message, Does.Contain($"'Mul' (node #{mul.Sequence}) at {ThisFile}:{line}"));

        // Outside anomaly mode the same expression has no line.
        Assert.That((w * w).GradFn!.CallSite.IsKnown, Is.False);
    }

    [Test]
    public void SavedTensorModified_NamesTheOpAndTheLineThatRecordedIt()
    {
        var a = Leaf(3);
        var b = Leaf(3);
        var y = a.Mul(b); var line = Line();
        var loss = y.Sum();
        using (Tensor.NoGrad())
        {
            b.MulInPlace(2.0);
        }

        var ex = Assert.Throws<SavedTensorModifiedException>(() => loss.Backward())!;
        Assert.That(ex.Message, Does.Contain($"'Mul' (node #{y.GradFn!.Sequence}) at {ThisFile}:{line}"));
        Assert.That(ex.CallSite.Line, Is.EqualTo(line));
        Assert.That(ex.CallSite.FileName, Is.EqualTo(ThisFile));
    }

    [Test]
    public void ReleasedGraph_NamesTheOpAndItsLine()
    {
        var a = Leaf(3);
        var y = a.Exp(); var line = Line();
        var loss = y.Sum();
        loss.Backward();
        var ex = Assert.Throws<InvalidOperationException>(() => loss.Backward())!;
        Assert.That(ex.Message, Does.Contain("already freed").And.Contain($"at {ThisFile}:"));
        Assert.That(ex.Message, Does.Contain($"'Exp' (node #{y.GradFn!.Sequence}) at {ThisFile}:{line}").Or.Contain($"'Sum'"));
    }

    [Test]
    public void ReleasedGraph_ThroughAnInnerNode_NamesThatNodesLine()
    {
        var a = Leaf(3);
        var y = a.Exp(); var line = Line();
        var first = y.Sum();
        first.Backward();
        var second = y.Mul(Leaf(3)).Sum();
        var ex = Assert.Throws<InvalidOperationException>(() => second.Backward())!;
        Assert.That(ex.Message, Does.Contain($"'Exp' (node #{y.GradFn!.Sequence}) at {ThisFile}:{line}"));
    }

    [Test]
    public void GradientShape_NamesTheOpAndItsLine()
    {
        var a = Leaf(3);
        var y = Function.Apply("Bad", [a], xs => (xs[0].Detach().Clone(), (g, grads) => grads[0] = Tensor.Zeros<double>(2)));
        var line = Line() - 1;
        var ex = Assert.Throws<GradientShapeException>(() => y.Sum().Backward())!;
        Assert.That(ex.Message, Does.Contain($"'Bad' (node #{y.GradFn!.Sequence}) at {ThisFile}:{line}"));
        Assert.That(ex.CallSite.Line, Is.EqualTo(line));
    }

    [Test]
    public void ABuiltInModule_NamesTheLineThatCalledForward_AUserModuleItsOwnLines()
    {
        var layer = new Nn.Linear<double>(3, 2);
        var y = layer.Forward(Leaf(4, 3)); var line = Line();
        var nodes = Graph(y);
        Assert.That(nodes, Has.Count.GreaterThanOrEqualTo(2));
        Assert.That(nodes.Select(n => n.CallSite.Line), Is.All.EqualTo(line));

        var user = new Twice(layer);
        var z = user.Forward(Leaf(4, 3));
        var outer = Graph(z).Single(n => n.OpName == "Mul");
        Assert.That(outer.CallSite.Line, Is.EqualTo(Twice.MulLine));
        Assert.That(Graph(z).Where(n => n.OpName != "Mul").Select(n => n.CallSite.Line), Is.All.EqualTo(Twice.InnerLine));
    }

    /// <summary>A user module: its own op names its own line; the built-in layer it calls names the line of that call.</summary>
    private sealed class Twice(Nn.Linear<double> inner) : Nn.Module<double>
    {
        public static int InnerLine { get; private set; }

        public static int MulLine { get; private set; }

        protected override Tensor<double> ForwardCore(Tensor<double> input)
        {
            var h = inner.Forward(input); InnerLine = Line();
            var y = h.Mul(Tensor.Scalar(2.0)); MulLine = Line();
            return y;
        }
    }

    [Test]
    public void NodesRecordedByACreateGraphBackward_NameTheForwardOpsLine()
    {
        var x = Leaf(3);
        var line = Line(); var y = x.Mul(x).Sum();
        var g = Tensor.Grad(y, x, createGraph: true)!;
        Assert.That(g.GradFn, Is.Not.Null);
        var sites = new List<CallSite>();
        var stack = new Stack<Node<double>>([(Node<double>)g.GradFn!]);
        var seen = new HashSet<Node<double>>(ReferenceEqualityComparer.Instance);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            if (!seen.Add(node))
            {
                continue;
            }

            sites.Add(node.CallSite);
            foreach (var input in node.Inputs)
            {
                if (input.GradFn is Node<double> producer)
                {
                    stack.Push(producer);
                }
            }
        }

        // The gradient's own nodes (recorded by the VJPs of Sum and Mul) and the forward ones: every one
        // names the line of the forward ops, none a line inside the library.
        Assert.That(sites, Has.Count.GreaterThan(2));
        Assert.That(sites.Select(s => s.ToString()), Is.All.EqualTo($"{ThisFile}:{line}"));
    }
}
