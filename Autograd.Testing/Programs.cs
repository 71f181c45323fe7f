using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Autograd;
using FsCheck;
using FsCheck.Fluent;

namespace Autograd.Testing;

/// <summary>The instructions a <see cref="TensorProgram"/> is made of.</summary>
public enum ProgramOp
{
    Add,
    Sub,
    Mul,

    /// <summary>a / (b.Sigmoid() + 0.5): a denominator in (0.5, 1.5).</summary>
    Div,
    Neg,
    Exp,

    /// <summary>(a * a + 0.5).Log(): a logarithm of something positive.</summary>
    Log,
    Tanh,
    Sigmoid,
    Relu,

    /// <summary>Args: dim (−1: all) and keepDim (0 or 1).</summary>
    Sum,
    Mean,
    Max,
    MatMul,

    /// <summary>Args: the target shape.</summary>
    Reshape,

    /// <summary>Args: dim0, dim1.</summary>
    Transpose,

    /// <summary>Args: the permutation.</summary>
    Permute,

    /// <summary>Args: dim, start, end, step.</summary>
    Slice,

    /// <summary>Args: dim, start, length.</summary>
    Narrow,

    /// <summary>Args: dim, index.</summary>
    Select,

    /// <summary>Args: the target shape.</summary>
    Expand,

    /// <summary>Args: dim.</summary>
    Unsqueeze,

    /// <summary>Args: dim.</summary>
    LogSoftmax,

    /// <summary>
    /// A copy of a tensor that does not require grad, written in place with another such tensor
    /// (Args[0] picks the op, see <see cref="TensorProgram"/>); the result is then used like any value.
    /// </summary>
    InPlace,
}

/// <summary>One instruction: value = Op(values[A], values[B], Args); B is ignored by unary ops.</summary>
public sealed record ProgramInstruction(ProgramOp Op, int A, int B, ImmutableArray<int> Args)
{
    public bool Equals(ProgramInstruction? other) =>
        other is not null && Op == other.Op && A == other.A && B == other.B && Args.SequenceEqual(other.Args);

    public override int GetHashCode() => HashCode.Combine(Op, A, B, Args.Length);
}

/// <summary>A leaf of a program: its shape and whether its gradient is checked (else a constant).</summary>
public sealed record ProgramInput(ImmutableArray<int> Shape, bool RequiresGrad)
{
    public bool Equals(ProgramInput? other) => other is not null && RequiresGrad == other.RequiresGrad && Shape.SequenceEqual(other.Shape);

    public override int GetHashCode() => HashCode.Combine(RequiresGrad, Shape.Length);
}

/// <summary>
/// A small straight-line tensor program: values v0.. are the inputs, then one value per instruction.
/// The checked function is Σ over the values that require grad and that no later instruction reads
/// (the sinks) of (v·v).Sum(), so every value reaches the output and values read twice fan their
/// gradients in. Input values are uniform in [−1, 1) from <see cref="Seed"/>, rounded to
/// <see cref="Decimals"/> places so the printed literals are short.
/// </summary>
/// <remarks>
/// A program is always valid: an instruction whose operands do not fit (after shrinking changed a shape
/// or removed an operand) is dropped and its readers read its first operand instead
/// (<see cref="Normalize"/>). In-place instructions follow the rules of in-place ops: they write a fresh
/// copy of a tensor that does not require grad, with an operand that does not require grad, and the
/// result is read afterwards (Args[0]: 0 AddInPlace(b, 0.5), 1 SubInPlace(b), 2 MulInPlace(b),
/// 3 AddcmulInPlace(b, b, 0.25), 4 LerpInPlace(b, 0.5), 5 DivInPlace(2.0), 6 Narrow(0, 0, 1).CopyFrom(b)
/// into the first row, 7 Select(0, 0).Fill(0.5)).
/// </remarks>
public sealed record TensorProgram(ImmutableArray<ProgramInput> Inputs, ImmutableArray<ProgramInstruction> Instructions, ulong Seed, int Decimals = 2)
{
    public bool Equals(TensorProgram? other) =>
        other is not null && Seed == other.Seed && Decimals == other.Decimals
        && Inputs.SequenceEqual(other.Inputs) && Instructions.SequenceEqual(other.Instructions);

    public override int GetHashCode() => HashCode.Combine(Seed, Decimals, Inputs.Length, Instructions.Length);

    /// <summary>The leaves, with the program's values; a fresh set on every call.</summary>
    public Tensor<double>[] MakeInputs()
    {
        var leaves = new Tensor<double>[Inputs.Length];
        for (var i = 0; i < leaves.Length; i++)
        {
            var shape = Inputs[i].Shape.ToArray();
            var random = new Generator(Seed + (0x9E3779B97F4A7C15UL * (ulong)(i + 1)));
            var values = new double[ShapeMath.Numel(shape)];
            for (var j = 0; j < values.Length; j++)
            {
                values[j] = Math.Round((random.NextDouble() * 2) - 1, Decimals);
            }

            leaves[i] = Tensor.FromArray(values, shape, Inputs[i].RequiresGrad);
        }

        return leaves;
    }

    /// <summary>Runs the program on <paramref name="inputs"/> (one per <see cref="Inputs"/>) and returns the checked scalar.</summary>
    public Tensor<double> Run(Tensor<double>[] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var values = new List<Tensor<double>>(inputs);
        foreach (var instruction in Instructions)
        {
            values.Add(Apply(instruction, values[instruction.A], values[instruction.B]));
        }

        Tensor<double>? total = null;
        foreach (var sink in Sinks())
        {
            var term = (values[sink] * values[sink]).Sum();
            total = total is null ? term : total + term;
        }

        return total!;
    }

    /// <summary>
    /// Whether <see cref="Run"/> on <see cref="MakeInputs"/> gives a finite value with finite gradients (false
    /// when some value or gradient overflows float64, where finite differences say nothing).
    /// </summary>
    public bool HasFiniteValues()
    {
        try
        {
            var inputs = MakeInputs();
            var y = Run(inputs);
            if (!double.IsFinite(y.Item()))
            {
                return false;
            }

            if (y.RequiresGrad)
            {
                y.Backward();
            }

            return inputs.All(x => x.Grad is null || x.Grad.ToArray().All(double.IsFinite));
        }
        catch (ArgumentException)
        {
            // An invalid program reports itself through Check, with the program as C#.
            return true;
        }
    }

    /// <summary>Checks the program's gradients with <see cref="GradCheck.Check(Func{Tensor{double}[], Tensor{double}}, Tensor{double}[], GradCheckOptions?, string?)"/>; the result's reproduction is this program as C#.</summary>
    public GradCheckResult Check(GradCheckOptions? options = null) =>
        GradCheck.Check(Run, MakeInputs(), options, functionText: FunctionCSharp());

    /// <summary>Values that require grad and that no instruction reads: the terms of the output.</summary>
    public IReadOnlyList<int> Sinks()
    {
        var requiresGrad = RequiresGradFlags();
        var read = new bool[requiresGrad.Length];
        foreach (var instruction in Instructions)
        {
            read[instruction.A] = true;
            if (IsBinary(instruction.Op))
            {
                read[instruction.B] = true;
            }
        }

        return Enumerable.Range(0, read.Length).Where(v => requiresGrad[v] && !read[v]).ToArray();
    }

    /// <summary>The checked function as a C# lambda over <c>xs</c>, one statement per instruction.</summary>
    public string FunctionCSharp()
    {
        const string Indent = "    ";
        var sb = new StringBuilder("xs =>\n").Append(Indent).Append("{\n");
        for (var i = 0; i < Inputs.Length; i++)
        {
            sb.Append(Indent).Append(Indent).Append($"var v{i} = xs[{i}];\n");
        }

        for (var i = 0; i < Instructions.Length; i++)
        {
            sb.Append(Indent).Append(Indent).Append(Statement(Instructions[i], Inputs.Length + i)).Append('\n');
        }

        var terms = Sinks().Select(v => $"(v{v} * v{v}).Sum()");
        sb.Append(Indent).Append(Indent).Append("return ").AppendJoin(" + ", terms).Append(";\n");
        return sb.Append(Indent).Append('}').ToString();
    }

    /// <summary>A ready-to-paste NUnit test that checks this program (needs <c>using Autograd; using Autograd.Testing;</c>).</summary>
    public string ToNUnitTest(string testName = "Program_Minimal")
    {
        const string Indent = "    ";
        var sb = new StringBuilder("[Test]\n").Append($"public void {CSharp.Identifier(testName)}()\n{{\n");
        sb.Append(Indent).Append($"// {this}\n");
        var leaves = MakeInputs();
        for (var i = 0; i < leaves.Length; i++)
        {
            sb.Append(Indent).Append($"var x{i} = Tensor.FromArray({CSharp.DoubleArray(leaves[i].ToArray(), Indent)}, {CSharp.Shape(leaves[i].Shape)}");
            sb.Append(leaves[i].RequiresGrad ? ", requiresGrad: true);\n" : ");\n");
        }

        var function = FunctionCSharp().Replace("\n", "\n" + Indent, StringComparison.Ordinal);
        sb.Append(Indent).Append("GradCheck.Check(").Append(function);
        sb.Append(", [").AppendJoin(", ", leaves.Select((_, i) => $"x{i}")).Append("]).ThrowIfFailed();\n}\n");
        return sb.ToString();
    }

    public override string ToString()
    {
        var sb = new StringBuilder("TensorProgram { inputs ");
        sb.AppendJoin(", ", Inputs.Select((x, i) => $"v{i} [{string.Join(", ", x.Shape)}]{(x.RequiresGrad ? "" : " const")}"));
        sb.Append("; ").Append(Instructions.Length).Append(Instructions.Length == 1 ? " instruction" : " instructions");
        sb.Append("; seed ").Append(Seed.ToString(CultureInfo.InvariantCulture)).Append(" }");
        return sb.ToString();
    }

    /// <summary>
    /// The same program with every instruction that does not fit its operands dropped (its readers read
    /// its first operand instead), found by running it on zeros; null when no input requires grad.
    /// </summary>
    public TensorProgram? Normalize()
    {
        if (!Inputs.Any(x => x.RequiresGrad))
        {
            return null;
        }

        var values = new List<Tensor<double>>(Inputs.Select(x => Tensor.FromArray(new double[ShapeMath.Numel(x.Shape.AsSpan())], x.Shape.ToArray(), x.RequiresGrad)));
        var map = Enumerable.Range(0, Inputs.Length).ToList();
        var kept = ImmutableArray.CreateBuilder<ProgramInstruction>();
        foreach (var instruction in Instructions)
        {
            var a = instruction.A < map.Count ? map[instruction.A] : 0;
            var b = instruction.B < map.Count ? map[instruction.B] : 0;
            var moved = instruction with { A = a, B = IsBinary(instruction.Op) || instruction.Op == ProgramOp.InPlace ? b : 0 };
            var result = TryApply(moved, values[a], values[b]);
            if (result is null)
            {
                map.Add(a);
            }
            else
            {
                map.Add(values.Count);
                values.Add(result);
                kept.Add(moved);
            }
        }

        return this with { Instructions = kept.ToImmutable() };
    }

    internal static bool IsBinary(ProgramOp op) => op is ProgramOp.Add or ProgramOp.Sub or ProgramOp.Mul or ProgramOp.Div or ProgramOp.MatMul or ProgramOp.InPlace;

    internal static Tensor<double>? TryApply(ProgramInstruction instruction, Tensor<double> a, Tensor<double> b)
    {
        try
        {
            return Apply(instruction, a, b);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    internal bool[] RequiresGradFlags()
    {
        var flags = new List<bool>(Inputs.Select(x => x.RequiresGrad));
        foreach (var instruction in Instructions)
        {
            flags.Add(instruction.Op != ProgramOp.InPlace && (flags[instruction.A] || (IsBinary(instruction.Op) && flags[instruction.B])));
        }

        return flags.ToArray();
    }

    /// <summary>The instruction's value; keep in step with <see cref="Statement"/>, which prints it.</summary>
    private static Tensor<double> Apply(ProgramInstruction instruction, Tensor<double> a, Tensor<double> b)
    {
        var args = instruction.Args;
        return instruction.Op switch
        {
            ProgramOp.Add => a + b,
            ProgramOp.Sub => a - b,
            ProgramOp.Mul => a * b,
            ProgramOp.Div => a / (b.Sigmoid() + 0.5),
            ProgramOp.Neg => -a,
            ProgramOp.Exp => a.Exp(),
            ProgramOp.Log => ((a * a) + 0.5).Log(),
            ProgramOp.Tanh => a.Tanh(),
            ProgramOp.Sigmoid => a.Sigmoid(),
            ProgramOp.Relu => a.Relu(),
            ProgramOp.Sum => args[0] < 0 ? a.Sum() : a.Sum(args[0], args[1] != 0),
            ProgramOp.Mean => args[0] < 0 ? a.Mean() : a.Mean(args[0], args[1] != 0),
            ProgramOp.Max => args[0] < 0 ? a.Max() : a.Max(args[0], args[1] != 0),
            ProgramOp.MatMul => a.MatMul(b),
            ProgramOp.Reshape => a.Reshape(args.ToArray()),
            ProgramOp.Transpose => a.Transpose(args[0], args[1]),
            ProgramOp.Permute => a.Permute(args.ToArray()),
            ProgramOp.Slice => a.Slice(args[0], args[1], args[2], args[3]),
            ProgramOp.Narrow => a.Narrow(args[0], args[1], args[2]),
            ProgramOp.Select => a.Select(args[0], args[1]),
            ProgramOp.Expand => a.Expand(args.ToArray()),
            ProgramOp.Unsqueeze => a.Unsqueeze(args[0]),
            ProgramOp.LogSoftmax => a.LogSoftmax(args[0]),
            ProgramOp.InPlace => InPlace(args[0], a, b),
            _ => throw new ArgumentException($"TensorProgram: unknown op {instruction.Op}.", nameof(instruction)),
        };
    }

    private static Tensor<double> InPlace(int kind, Tensor<double> a, Tensor<double> b)
    {
        if (a.RequiresGrad || b.RequiresGrad)
        {
            // The generator never writes a tensor that requires grad; after shrinking rewired an operand, drop the instruction.
            throw new InvalidOperationException("TensorProgram: an in-place instruction reads a tensor that requires grad.");
        }

        var r = a.Clone();
        _ = kind switch
        {
            0 => r.AddInPlace(b, 0.5),
            1 => r.SubInPlace(b),
            2 => r.MulInPlace(b),
            3 => r.AddcmulInPlace(b, b, 0.25),
            4 => r.LerpInPlace(b, 0.5),
            5 => r.DivInPlace(2.0),
            6 => r.Narrow(0, 0, 1).CopyFrom(b),
            _ => r.Select(0, 0).Fill(0.5),
        };
        return r;
    }

    private static string Statement(ProgramInstruction instruction, int result)
    {
        var (a, b, args) = ($"v{instruction.A}", $"v{instruction.B}", instruction.Args);
        string List() => string.Join(", ", args);
        string Reduce(string name) => args[0] < 0 ? $"{a}.{name}()" : $"{a}.{name}({args[0]}, keepDim: {(args[1] != 0 ? "true" : "false")})";
        var r = $"v{result}";
        if (instruction.Op == ProgramOp.InPlace)
        {
            var write = args[0] switch
            {
                0 => $"{r}.AddInPlace({b}, 0.5)",
                1 => $"{r}.SubInPlace({b})",
                2 => $"{r}.MulInPlace({b})",
                3 => $"{r}.AddcmulInPlace({b}, {b}, 0.25)",
                4 => $"{r}.LerpInPlace({b}, 0.5)",
                5 => $"{r}.DivInPlace(2.0)",
                6 => $"{r}.Narrow(0, 0, 1).CopyFrom({b})",
                _ => $"{r}.Select(0, 0).Fill(0.5)",
            };
            return $"var {r} = {a}.Clone(); {write};";
        }

        var expression = instruction.Op switch
        {
            ProgramOp.Add => $"{a} + {b}",
            ProgramOp.Sub => $"{a} - {b}",
            ProgramOp.Mul => $"{a} * {b}",
            ProgramOp.Div => $"{a} / ({b}.Sigmoid() + 0.5)",
            ProgramOp.Neg => $"-{a}",
            ProgramOp.Exp => $"{a}.Exp()",
            ProgramOp.Log => $"({a} * {a} + 0.5).Log()",
            ProgramOp.Tanh => $"{a}.Tanh()",
            ProgramOp.Sigmoid => $"{a}.Sigmoid()",
            ProgramOp.Relu => $"{a}.Relu()",
            ProgramOp.Sum => Reduce("Sum"),
            ProgramOp.Mean => Reduce("Mean"),
            ProgramOp.Max => Reduce("Max"),
            ProgramOp.MatMul => $"{a}.MatMul({b})",
            ProgramOp.Reshape => $"{a}.Reshape({List()})",
            ProgramOp.Transpose => $"{a}.Transpose({List()})",
            ProgramOp.Permute => $"{a}.Permute({List()})",
            ProgramOp.Slice => $"{a}.Slice({List()})",
            ProgramOp.Narrow => $"{a}.Narrow({List()})",
            ProgramOp.Select => $"{a}.Select({List()})",
            ProgramOp.Expand => $"{a}.Expand({List()})",
            ProgramOp.Unsqueeze => $"{a}.Unsqueeze({List()})",
            ProgramOp.LogSoftmax => $"{a}.LogSoftmax({List()})",
            _ => throw new ArgumentException($"TensorProgram: unknown op {instruction.Op}.", nameof(instruction)),
        };
        return $"var {r} = {expression};";
    }
}

/// <summary>
/// Random tensor programs for gradient checking: FsCheck generates small programs over the ops
/// (broadcasting arithmetic, activations, reductions, MatMul, views, LogSoftmax, in-place writes of
/// constants), with values read several times so gradients fan in, and checks each by finite
/// differences. A failure shrinks to the program with the fewest instructions and smallest shapes and
/// is reported as a C# NUnit test.
/// <code>Programs.Check(maxTest: 200);</code>
/// </summary>
public static class Programs
{
    private static readonly ProgramOp[] s_ops = Enum.GetValues<ProgramOp>();

    /// <summary>Programs of 1..<paramref name="maxInstructions"/> instructions over 1..3 inputs of rank ≤ 3 and sizes ≤ <paramref name="maxDim"/>.</summary>
    public static Arbitrary<TensorProgram> Arbitrary(int maxInstructions = 8, int maxDim = 3)
    {
        if (maxInstructions < 1 || maxDim < 1)
        {
            throw new ArgumentException($"Programs.Arbitrary: need maxInstructions ≥ 1 and maxDim ≥ 1 (got {maxInstructions}, {maxDim}).");
        }

        var gen =
            from seed in Gen.Choose(0, int.MaxValue)
            from size in Gen.Sized(s => Gen.Constant(s))
            select Generate((ulong)seed, 1 + Math.Min(maxInstructions - 1, size / 10 + seed % maxInstructions), maxDim);
        return Arb.From(gen, Shrink);
    }

    /// <summary>
    /// The property: every generated program's gradients match finite differences. Kinks are discarded, and so
    /// are programs whose output or gradients overflow float64 (Exp of Exp of Exp of Exp), where no difference exists.
    /// </summary>
    public static Property Property(int maxInstructions = 8, int maxDim = 3, GradCheckOptions? options = null) =>
        Prop.ForAll(Arbitrary(maxInstructions, maxDim), program =>
        {
            if (!program.HasFiniteValues())
            {
                return Prop.Discard<Property>();
            }

            GradCheckResult result;
            try
            {
                result = program.Check(options);
            }
            catch (Exception e) when (e is not GradCheckException)
            {
                throw new GradCheckException(Report($"The program threw {e.GetType().Name}: {e.Message}", program), null, e) { Case = program, NUnitTest = program.ToNUnitTest() };
            }

            if (!result.Passed)
            {
                throw new GradCheckException(Report(result.Message, program), result) { Case = program, NUnitTest = program.ToNUnitTest() };
            }

            return result.NotDifferentiable.Count > 0 ? Prop.Discard<Property>() : true.ToProperty();
        });

    /// <summary>Checks <paramref name="maxTest"/> programs; throws <see cref="GradPropertyException"/> with the shrunk program as C# on failure.</summary>
    public static void Check(int maxTest = 100, int maxInstructions = 8, int maxDim = 3, GradCheckOptions? options = null, string? replay = null) =>
        GradProperty.Check(Property(maxInstructions, maxDim, options), maxTest, replay);

    /// <summary>A program of <paramref name="instructions"/> instructions drawn from <paramref name="seed"/>.</summary>
    public static TensorProgram Generate(ulong seed, int instructions, int maxDim = 3)
    {
        var random = new Generator(seed);
        var inputs = new List<ProgramInput>();
        var first = RandomShape(random, maxDim);
        inputs.Add(new ProgramInput([.. first], true));
        for (var extra = random.NextInt(3); extra > 0; extra--)
        {
            // Often a suffix of the first shape with some sizes 1, so that the inputs broadcast together.
            var shape = random.NextInt(3) > 0 ? BroadcastPartner(random, first) : RandomShape(random, maxDim);
            inputs.Add(new ProgramInput([.. shape], random.NextInt(3) > 0));
        }

        var program = new TensorProgram([.. inputs], [], seed);
        for (var i = 0; i < instructions; i++)
        {
            program = AddInstruction(random, program, maxDim) ?? program;
        }

        return program;
    }

    /// <summary>Smaller programs: one instruction fewer, an unread input fewer, a dimension fewer or smaller, shorter literals.</summary>
    public static IEnumerable<TensorProgram> Shrink(TensorProgram program)
    {
        ArgumentNullException.ThrowIfNull(program);
        var seen = new HashSet<TensorProgram> { program };
        foreach (var candidate in Candidates(program))
        {
            if (candidate.Normalize() is { } normal && Smaller(normal, program) && seen.Add(normal))
            {
                yield return normal;
            }
        }
    }

    private static IEnumerable<TensorProgram> Candidates(TensorProgram p)
    {
        for (var i = p.Instructions.Length - 1; i >= 0; i--)
        {
            // Readers of the removed value read its first operand; Normalize drops what no longer fits.
            var removed = p.Inputs.Length + i;
            var target = p.Instructions[i].A;
            yield return p with
            {
                Instructions = [.. p.Instructions.Where((_, j) => j != i).Select(x => x with { A = Remap(x.A, removed, target), B = Remap(x.B, removed, target) })],
            };
        }

        var read = new bool[p.Inputs.Length];
        foreach (var instruction in p.Instructions)
        {
            if (instruction.A < read.Length)
            {
                read[instruction.A] = true;
            }

            if (instruction.B < read.Length && TensorProgram.IsBinary(instruction.Op))
            {
                read[instruction.B] = true;
            }
        }

        for (var i = 0; i < p.Inputs.Length; i++)
        {
            if (!read[i] && p.Inputs.Length > 1)
            {
                yield return p with
                {
                    Inputs = p.Inputs.RemoveAt(i),
                    Instructions = [.. p.Instructions.Select(x => x with { A = Remap(x.A, i, 0), B = Remap(x.B, i, 0) })],
                };
            }
        }

        for (var i = 0; i < p.Inputs.Length; i++)
        {
            var shape = p.Inputs[i].Shape;
            for (var d = 0; d < shape.Length; d++)
            {
                yield return p with { Inputs = p.Inputs.SetItem(i, p.Inputs[i] with { Shape = shape.RemoveAt(d) }) };
                if (shape[d] > 1)
                {
                    yield return p with { Inputs = p.Inputs.SetItem(i, p.Inputs[i] with { Shape = shape.SetItem(d, shape[d] - 1) }) };
                }
            }
        }

        if (p.Decimals > 1)
        {
            yield return p with { Decimals = 1 };
        }
    }

    /// <summary>Index <paramref name="v"/> after value <paramref name="removed"/> is taken out, readers of it redirected to <paramref name="target"/>.</summary>
    private static int Remap(int v, int removed, int target)
    {
        if (v == removed)
        {
            v = target;
        }

        return v > removed ? v - 1 : v;
    }

    /// <summary>A well-founded order, so shrinking ends: fewer instructions, then fewer input elements and dimensions, then shorter literals.</summary>
    private static bool Smaller(TensorProgram a, TensorProgram b)
    {
        static (int, int, int) Size(TensorProgram p) => (
            p.Instructions.Length,
            p.Inputs.Sum(x => ShapeMath.Numel(x.Shape.AsSpan()) + x.Shape.Length),
            p.Decimals);
        var (ai, ae, ad) = Size(a);
        var (bi, be, bd) = Size(b);
        return ai < bi || (ai == bi && (ae < be || (ae == be && ad < bd)));
    }

    private static TensorProgram? AddInstruction(Generator random, TensorProgram program, int maxDim)
    {
        var shapes = Shapes(program);
        var grads = program.RequiresGradFlags();
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var op = s_ops[random.NextInt(s_ops.Length)];

            // Prefer recent values (deep programs) but reach back too (fan-out, so gradients fan in), and
            // mostly values that require grad: work on constants reaches the output only through them.
            var a = random.NextInt(2) == 0 ? shapes.Length - 1 - random.NextInt(Math.Min(2, shapes.Length)) : random.NextInt(shapes.Length);
            if (!grads[a] && random.NextInt(4) > 0)
            {
                a = Pick(random, shapes.Length, v => grads[v]) ?? a;
            }

            var shape = shapes[a];
            int[] args = [];
            var b = 0;
            switch (op)
            {
                case ProgramOp.Add or ProgramOp.Sub or ProgramOp.Mul or ProgramOp.Div:
                    b = Pick(random, shapes.Length, v => Broadcasts(shapes[v], shape)) ?? a;
                    break;
                case ProgramOp.MatMul:
                    if (shape.Length == 0)
                    {
                        continue;
                    }

                    var inner = shape[^1];
                    var partner = Pick(random, shapes.Length, v => shapes[v].Length >= 1 && shapes[v][shapes[v].Length >= 2 ? ^2 : ^1] == inner);
                    if (partner is null)
                    {
                        if (program.Inputs.Length >= 4)
                        {
                            continue;
                        }

                        // A new weight-like input [inner, k] that fits.
                        program = WithInput(program, new ProgramInput([inner, 1 + random.NextInt(maxDim)], random.NextInt(4) > 0));
                        shapes = Shapes(program);
                        grads = program.RequiresGradFlags();
                        a += a >= program.Inputs.Length - 1 ? 1 : 0;
                        partner = program.Inputs.Length - 1;
                    }

                    b = partner.Value;
                    break;
                case ProgramOp.Sum or ProgramOp.Mean or ProgramOp.Max:
                    args = shape.Length == 0 || random.NextInt(4) == 0 ? [-1, 0] : [random.NextInt(shape.Length), random.NextInt(2)];
                    break;
                case ProgramOp.Reshape:
                    args = Reshaped(random, shape);
                    break;
                case ProgramOp.Transpose:
                    if (shape.Length < 2)
                    {
                        continue;
                    }

                    args = [random.NextInt(shape.Length), random.NextInt(shape.Length)];
                    break;
                case ProgramOp.Permute:
                    args = [.. Enumerable.Range(0, shape.Length).OrderBy(_ => random.NextInt(1000))];
                    break;
                case ProgramOp.Slice:
                    if (shape.Length == 0)
                    {
                        continue;
                    }

                    var sd = random.NextInt(shape.Length);
                    var start = random.NextInt(shape[sd]);
                    args = [sd, start, start + 1 + random.NextInt(shape[sd] - start), 1 + random.NextInt(2)];
                    break;
                case ProgramOp.Narrow:
                    if (shape.Length == 0)
                    {
                        continue;
                    }

                    var nd = random.NextInt(shape.Length);
                    var ns = random.NextInt(shape[nd]);
                    args = [nd, ns, 1 + random.NextInt(shape[nd] - ns)];
                    break;
                case ProgramOp.Select:
                    if (shape.Length == 0)
                    {
                        continue;
                    }

                    var seld = random.NextInt(shape.Length);
                    args = [seld, random.NextInt(shape[seld])];
                    break;
                case ProgramOp.Expand:
                    if (shape.Length >= 4)
                    {
                        continue;
                    }

                    // A new leading dimension, and every size-1 dimension widened.
                    args = [2, .. shape.Select(s => s == 1 ? 1 + random.NextInt(maxDim) : s)];
                    break;
                case ProgramOp.Unsqueeze:
                    if (shape.Length >= 4)
                    {
                        continue;
                    }

                    args = [random.NextInt(shape.Length + 1)];
                    break;
                case ProgramOp.LogSoftmax:
                    if (shape.Length == 0)
                    {
                        continue;
                    }

                    args = [random.NextInt(shape.Length)];
                    break;
                case ProgramOp.InPlace:
                    var constant = Pick(random, shapes.Length, v => !grads[v] && shapes[v].Length > 0);
                    if (constant is null)
                    {
                        continue;
                    }

                    a = constant.Value;
                    b = Pick(random, shapes.Length, v => !grads[v] && Broadcasts(shapes[v], shapes[a])) ?? a;
                    args = [random.NextInt(8)];
                    break;
            }

            var candidate = program with { Instructions = program.Instructions.Add(new ProgramInstruction(op, a, b, [.. args])) };
            var normal = candidate.Normalize();
            if (normal is not null && normal.Instructions.Length == candidate.Instructions.Length && Numel(normal) <= 256)
            {
                return normal;
            }
        }

        return program;
    }

    private static TensorProgram WithInput(TensorProgram program, ProgramInput input)
    {
        var n = program.Inputs.Length;
        return program with
        {
            Inputs = program.Inputs.Add(input),
            Instructions = [.. program.Instructions.Select(x => x with { A = x.A >= n ? x.A + 1 : x.A, B = x.B >= n ? x.B + 1 : x.B })],
        };
    }

    /// <summary>The shapes of every value of a valid program.</summary>
    private static int[][] Shapes(TensorProgram program)
    {
        var values = new List<Tensor<double>>(program.Inputs.Select(x => Tensor.FromArray(new double[ShapeMath.Numel(x.Shape.AsSpan())], x.Shape.ToArray(), x.RequiresGrad)));
        foreach (var instruction in program.Instructions)
        {
            values.Add(TensorProgram.TryApply(instruction, values[instruction.A], values[instruction.B])!);
        }

        return [.. values.Select(v => v.Shape)];
    }

    private static int Numel(TensorProgram program) => Shapes(program).Max(s => ShapeMath.Numel(s));

    private static int? Pick(Generator random, int count, Func<int, bool> fits)
    {
        var options = Enumerable.Range(0, count).Where(fits).ToArray();
        return options.Length == 0 ? null : options[random.NextInt(options.Length)];
    }

    /// <summary>Whether <paramref name="b"/> broadcasts to <paramref name="a"/> or with it (PyTorch's rule on trailing dimensions).</summary>
    private static bool Broadcasts(int[] b, int[] a)
    {
        for (var i = 1; i <= Math.Min(a.Length, b.Length); i++)
        {
            if (a[^i] != b[^i] && a[^i] != 1 && b[^i] != 1)
            {
                return false;
            }
        }

        return true;
    }

    private static int[] RandomShape(Generator random, int maxDim)
    {
        // Rank 0..3, scalars rarer (1 in 16): they leave most ops nothing to do.
        var rank = random.NextInt(4);
        var shape = new int[rank == 0 ? random.NextInt(4) : rank];
        for (var i = 0; i < shape.Length; i++)
        {
            shape[i] = 1 + random.NextInt(maxDim);
        }

        return shape;
    }

    private static int[] BroadcastPartner(Generator random, int[] shape)
    {
        var partner = shape[random.NextInt(shape.Length + 1)..];
        for (var i = 0; i < partner.Length; i++)
        {
            if (random.NextInt(3) == 0)
            {
                partner[i] = 1;
            }
        }

        return partner;
    }

    /// <summary>A reshape target: all elements flat, two neighbours merged, or a size split in two.</summary>
    private static int[] Reshaped(Generator random, int[] shape)
    {
        var numel = ShapeMath.Numel(shape);
        switch (random.NextInt(3))
        {
            case 0 when shape.Length >= 2:
                var d = random.NextInt(shape.Length - 1);
                return [.. shape[..d], shape[d] * shape[d + 1], .. shape[(d + 2)..]];
            case 1 when numel > 1 && numel % 2 == 0:
                return [2, numel / 2];
            default:
                return [numel];
        }
    }

    private static string Report(string message, TensorProgram program) =>
        $"{message}\nReproduce it with this NUnit test (using Autograd; using Autograd.Testing;):\n\n{program.ToNUnitTest()}";
}
