using System.Globalization;
using System.Numerics;
using System.Text;

namespace Autograd.Nn;

/// <summary>One module of a <see cref="ModelSummary"/>.</summary>
/// <param name="Name">Its dotted name in the model (<c>features.0</c>; "" for the model itself).</param>
/// <param name="Type">Its name as <c>ToString()</c> prints it (<c>Conv2d</c>).</param>
/// <param name="Depth">0 for the model, 1 for its children, and so on.</param>
/// <param name="OutputShape">The shape its first forward returned, or null when the forward never called it.</param>
/// <param name="Params">Elements of the parameters registered on it directly (its children's are on their rows).</param>
public sealed record ModelSummaryRow(string Name, string Type, int Depth, int[]? OutputShape, long Params);

/// <summary>
/// What <see cref="Module{T}.Summary(Tensor{T}, int)"/> found (torchinfo's <c>ModelStatistics</c>): a row per module
/// down to the requested depth, in the tree's order, and the parameter totals over the whole model (a parameter
/// shared by two modules counted once). <see cref="ToString"/> prints torchinfo's table.
/// </summary>
public sealed class ModelSummary
{
    private ModelSummary(IReadOnlyList<ModelSummaryRow> rows, int[] inputShape, int[] outputShape, long total, long trainable, int elementSize)
    {
        Rows = rows;
        InputShape = inputShape;
        OutputShape = outputShape;
        TotalParams = total;
        TrainableParams = trainable;
        ElementSize = elementSize;
    }

    public IReadOnlyList<ModelSummaryRow> Rows { get; }

    public int[] InputShape { get; }

    public int[] OutputShape { get; }

    /// <summary>Elements of all parameters, each tensor once.</summary>
    public long TotalParams { get; }

    /// <summary>Elements of the parameters that require grad.</summary>
    public long TrainableParams { get; }

    public long NonTrainableParams => TotalParams - TrainableParams;

    /// <summary>Bytes per element (4 for float, 8 for double).</summary>
    public int ElementSize { get; }

    internal static ModelSummary Build<T>(Module<T> model, int[] inputShape, int[] outputShape, ModelSummaryRecorder<T> recorder, int depth)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rows = new List<ModelSummaryRow>();
        foreach (var (name, module) in model.NamedModules())
        {
            var level = name.Length == 0 ? 0 : name.Count(ch => ch == '.') + 1;
            if (level <= depth)
            {
                rows.Add(new ModelSummaryRow(name, module.TypeName, level, recorder.ShapeOf(module), module.OwnParameters().Sum(p => (long)p.Numel)));
            }
        }

        var parameters = model.Parameters().ToList();
        return new ModelSummary(
            rows, inputShape, outputShape, parameters.Sum(p => (long)p.Numel), parameters.Where(p => p.RequiresGrad).Sum(p => (long)p.Numel), typeof(T) == typeof(float) ? 4 : 8);
    }

    /// <summary>
    /// torchinfo's table: <c>Layer (type (name):depth-idx)</c>, <c>Output Shape</c> and <c>Param #</c> columns, the tree
    /// drawn with ├─ and │, "--" where a module owns no parameters or never ran, then the totals and the input and
    /// parameter sizes in MB.
    /// </summary>
    public override string ToString()
    {
        var layers = new List<(string Layer, string Shape, string Params)>();
        var index = new Dictionary<int, int>();
        for (var r = 0; r < Rows.Count; r++)
        {
            var row = Rows[r];
            string layer;
            if (row.Depth == 0)
            {
                layer = row.Type;
            }
            else
            {
                // The sibling index under the current parent: reset whenever a shallower row opens a new parent.
                foreach (var deeper in index.Keys.Where(d => d > row.Depth).ToList())
                {
                    index.Remove(deeper);
                }

                index[row.Depth] = index.GetValueOrDefault(row.Depth) + 1;
                var prefix = new StringBuilder();
                for (var d = 1; d < row.Depth; d++)
                {
                    prefix.Append(HasLaterSibling(r, d) ? "│    " : "     ");
                }

                var leaf = row.Name[(row.Name.LastIndexOf('.') + 1)..];
                layer = $"{prefix}{(row.Depth > 1 ? "└─" : "├─")}{row.Type} ({leaf}): {row.Depth}-{index[row.Depth]}";
            }

            var shape = row.OutputShape is null ? "--" : ShapeMath.Format(row.OutputShape);
            var parameters = row.Params > 0 ? row.Params.ToString("N0", CultureInfo.InvariantCulture) : "--";
            layers.Add((layer, shape, parameters));
        }

        var w1 = Math.Max(40, layers.Max(l => l.Layer.Length) + 2);
        var w2 = Math.Max(25, layers.Max(l => l.Shape.Length) + 2);
        var w3 = Math.Max(15, layers.Max(l => l.Params.Length));
        var rule = new string('=', w1 + w2 + w3);
        var sb = new StringBuilder();
        sb.AppendLine(rule);
        sb.Append("Layer (type (name):depth-idx)".PadRight(w1)).Append("Output Shape".PadRight(w2)).AppendLine("Param #");
        sb.AppendLine(rule);
        foreach (var (layer, shape, parameters) in layers)
        {
            sb.Append(layer.PadRight(w1)).Append(shape.PadRight(w2)).AppendLine(parameters);
        }

        sb.AppendLine(rule);
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Total params: {TotalParams:N0}"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Trainable params: {TrainableParams:N0}"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Non-trainable params: {NonTrainableParams:N0}"));
        sb.AppendLine(rule);
        sb.AppendLine($"Input shape: {ShapeMath.Format(InputShape)}, output shape: {ShapeMath.Format(OutputShape)}");
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Input size (MB): {InputShape.Aggregate(1L, (p, d) => p * d) * ElementSize / 1e6:F2}"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Params size (MB): {TotalParams * ElementSize / 1e6:F2}"));
        sb.Append(rule);
        return sb.ToString();
    }

    /// <summary>Whether an ancestor line at <paramref name="depth"/> continues below row <paramref name="r"/> (draws │).</summary>
    private bool HasLaterSibling(int r, int depth)
    {
        for (var k = r + 1; k < Rows.Count; k++)
        {
            if (Rows[k].Depth < depth)
            {
                return false;
            }

            if (Rows[k].Depth == depth)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>Notes the output shape of each module's first forward while a summary runs.</summary>
internal sealed class ModelSummaryRecorder<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dictionary<Module<T>, int[]> _shapes = new(ReferenceEqualityComparer.Instance);

    public void Note(Module<T> module, Tensor<T> output) => _shapes.TryAdd(module, output.Shape);

    public int[]? ShapeOf(Module<T> module) => _shapes.GetValueOrDefault(module);
}
