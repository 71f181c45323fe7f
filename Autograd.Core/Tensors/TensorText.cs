using System.Globalization;
using System.Numerics;
using System.Text;

namespace Autograd;

/// <summary>
/// How tensors print, following PyTorch's <c>torch/_tensor_str.py</c> with its default print options
/// (precision 4, threshold 1000, edge items 3, line width 80), so a printed tensor reads as PyTorch's:
/// one format for every element, chosen from the non-zero finite values shown: integers as <c>3.</c>;
/// scientific (<c>1.0000e-06</c>) when the largest is over 1e8, the smallest under 1e-4, or their ratio
/// over 1000; else fixed (<c>0.1235</c>). Elements are right-aligned to one width, rows wrap at 80
/// columns, and a tensor of more than 1000 elements shows 3 items at each end of every dimension.
/// </summary>
internal static class TensorText
{
    private const int Threshold = 1000;
    private const int EdgeItems = 3;
    private const int LineWidth = 80;

    /// <summary>The bracketed body of a float tensor's text (<c>[[1., 2.], ...]</c>), laid out from column <paramref name="indent"/>.</summary>
    public static string Floats<T>(T[] data, int[] shape, int indent)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var summarize = data.Length > Threshold;
        var shown = Shown(shape, summarize).Select(i => double.CreateTruncating(data[i])).ToArray();
        var format = FloatFormat.Choose(shown);
        return Body(shape, i => format.Format(double.CreateTruncating(data[i])), format.Width, indent, summarize);
    }

    /// <summary>The bracketed body of an index tensor's text.</summary>
    public static string Longs(long[] data, int[] shape, int indent)
    {
        var summarize = data.Length > Threshold;
        var width = Shown(shape, summarize).Select(i => data[i].ToString(CultureInfo.InvariantCulture).Length).DefaultIfEmpty(1).Max();
        return Body(shape, i => data[i].ToString(CultureInfo.InvariantCulture).PadLeft(width), width, indent, summarize);
    }

    /// <summary>Row-major positions of the elements printed (all, or the edge items of every dimension when summarising).</summary>
    private static IEnumerable<int> Shown(int[] shape, bool summarize)
    {
        var positions = new List<int>();
        Walk(0, 0);
        return positions;

        void Walk(int dim, int start)
        {
            if (dim == shape.Length)
            {
                positions.Add(start);
                return;
            }

            var inner = ShapeMath.Numel(shape.AsSpan(dim + 1));
            foreach (var i in Indices(shape[dim], summarize).Where(i => i >= 0))
            {
                Walk(dim + 1, start + i * inner);
            }
        }
    }

    /// <summary>The indices shown along a dimension of <paramref name="size"/>; -1 marks the "..." between the edges.</summary>
    private static IEnumerable<int> Indices(int size, bool summarize)
    {
        if (!summarize || size <= 2 * EdgeItems)
        {
            return Enumerable.Range(0, size);
        }

        return Enumerable.Range(0, EdgeItems).Append(-1).Concat(Enumerable.Range(size - EdgeItems, EdgeItems));
    }

    private static string Body(int[] shape, Func<int, string> element, int width, int indent, bool summarize)
    {
        if (shape.Length == 0)
        {
            return element(0).TrimStart();
        }

        var sb = new StringBuilder();
        Append(0, 0, indent);
        return sb.ToString();

        void Append(int dim, int start, int column)
        {
            var inner = ShapeMath.Numel(shape.AsSpan(dim + 1));
            sb.Append('[');
            if (dim == shape.Length - 1)
            {
                // A row: as many elements a line as fit in the line width, each ", "-separated.
                var perLine = Math.Max(1, (LineWidth - column) / (width + 2));
                var k = 0;
                foreach (var i in Indices(shape[dim], summarize))
                {
                    if (k > 0)
                    {
                        sb.Append(k % perLine == 0 ? ",\n" + new string(' ', column + 1) : ", ");
                    }

                    sb.Append(i < 0 ? " ..." : element(start + i));
                    k++;
                }
            }
            else
            {
                // Sub-tensors one a line, with a blank line between blocks of rank 3 and more, as PyTorch.
                var separator = "," + new string('\n', shape.Length - dim - 1) + new string(' ', column + 1);
                var first = true;
                foreach (var i in Indices(shape[dim], summarize))
                {
                    if (!first)
                    {
                        sb.Append(separator);
                    }

                    first = false;
                    if (i < 0)
                    {
                        sb.Append("...");
                    }
                    else
                    {
                        Append(dim + 1, start + i * inner, column + 1);
                    }
                }
            }

            sb.Append(']');
        }
    }

    /// <summary>One format for all the elements of a float tensor, and their width.</summary>
    private readonly record struct FloatFormat(bool IntMode, bool SciMode, int Width)
    {
        private const int Precision = 4;

        public static FloatFormat Choose(double[] shown)
        {
            var values = shown.Where(v => double.IsFinite(v) && v != 0).ToArray();
            if (values.Length == 0)
            {
                return new FloatFormat(true, false, 1);
            }

            var max = values.Max(Math.Abs);
            var min = values.Min(Math.Abs);
            var intMode = values.All(v => v == Math.Ceiling(v));
            var sci = intMode ? max / min > 1000 || max > 1e8 : max / min > 1000 || max > 1e8 || min < 1e-4;
            var format = new FloatFormat(intMode, sci, 1);
            var width = values.Max(v => format.Text(v).Length);
            return format with { Width = Math.Max(width, shown.Where(v => !double.IsFinite(v)).Select(v => format.Text(v).Length).DefaultIfEmpty(1).Max()) };
        }

        public string Format(double v) => Text(v).PadLeft(Width);

        private string Text(double v)
        {
            if (!double.IsFinite(v))
            {
                return double.IsNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
            }

            if (SciMode)
            {
                return v.ToString("0." + new string('0', Precision) + "e+00", CultureInfo.InvariantCulture);
            }

            return IntMode ? v.ToString("F0", CultureInfo.InvariantCulture) + "." : v.ToString("F" + Precision, CultureInfo.InvariantCulture);
        }
    }
}
