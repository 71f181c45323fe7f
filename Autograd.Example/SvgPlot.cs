using System.Globalization;
using System.Text;

namespace Autograd.Example;

/// <summary>
/// A two-panel SVG of a training run: training loss (every step, smoothed, and the mean of each
/// epoch) and test accuracy after each epoch, both against the epoch. Hand-written SVG, so the job
/// needs no plotting library.
/// </summary>
public static class SvgPlot
{
    private const int PanelWidth = 420, PanelHeight = 300, Left = 60, Top = 52, PlotWidth = 330, PlotHeight = 210;

    public static void Write(string path, IReadOnlyList<EpochResult> epochs, string title)
    {
        var svg = new StringBuilder();
        svg.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{2 * PanelWidth}\" height=\"{PanelHeight + 40}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append(Inv($"<text x=\"{PanelWidth}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n"));

        // Loss: each step at x = epoch − 1 + (step / steps), smoothed over ~2 % of an epoch; epoch means at x = epoch.
        var steps = new List<(double X, double Y)>();
        foreach (var e in epochs)
        {
            var window = Math.Max(1, e.StepLosses.Count / 50);
            for (var i = window - 1; i < e.StepLosses.Count; i += window)
            {
                var mean = 0.0;
                for (var k = i - window + 1; k <= i; k++)
                {
                    mean += e.StepLosses[k];
                }

                steps.Add((e.Epoch - 1 + (i + 1.0) / e.StepLosses.Count, mean / window));
            }
        }

        var means = epochs.Select(e => ((double)e.Epoch, e.MeanTrainLoss)).ToList();
        var maxLoss = Math.Max(steps.Select(p => p.Y).DefaultIfEmpty(1).Max(), 0.1);
        Panel(svg, 0, "training loss (cross-entropy)", epochs.Count, 0, maxLoss, "F2",
            [(steps, "#9ecae1", false), (means, "#08519c", true)]);
        svg.Append(Inv($"<text x=\"{Left + PlotWidth - 8}\" y=\"{Top + 16}\" text-anchor=\"end\" fill=\"#6baed6\">each step (smoothed)</text>\n"));
        svg.Append(Inv($"<text x=\"{Left + PlotWidth - 8}\" y=\"{Top + 32}\" text-anchor=\"end\" fill=\"#08519c\">epoch mean</text>\n"));

        var accuracy = epochs.Select(e => ((double)e.Epoch, 100 * e.TestAccuracy)).ToList();
        var low = Math.Floor(Math.Min(accuracy.Select(p => p.Item2).DefaultIfEmpty(0).Min() - 2, 90) / 5) * 5;
        Panel(svg, PanelWidth, "test accuracy (%)", epochs.Count, Math.Max(low, 0), 100, "F0", [(accuracy, "#a63603", true)]);
        svg.Append("</svg>\n");
        File.WriteAllText(path, svg.ToString());
    }

    private static void Panel(StringBuilder svg, int x0, string label, int epochs, double yMin, double yMax, string yFormat,
        (List<(double X, double Y)> Points, string Colour, bool Markers)[] series)
    {
        var xMax = Math.Max(epochs, 1);
        double X(double v) => x0 + Left + v / xMax * PlotWidth;
        double Y(double v) => Top + PlotHeight - (v - yMin) / (yMax - yMin) * PlotHeight;
        svg.Append(Inv($"<text x=\"{x0 + Left + PlotWidth / 2}\" y=\"{Top - 8}\" text-anchor=\"middle\">{Escape(label)}</text>\n"));
        svg.Append(Inv($"<rect x=\"{x0 + Left}\" y=\"{Top}\" width=\"{PlotWidth}\" height=\"{PlotHeight}\" fill=\"none\" stroke=\"#444\"/>\n"));
        for (var i = 0; i <= 4; i++)
        {
            var v = yMin + (yMax - yMin) * i / 4;
            svg.Append(Inv($"<line x1=\"{x0 + Left}\" x2=\"{x0 + Left + PlotWidth}\" y1=\"{Y(v):F1}\" y2=\"{Y(v):F1}\" stroke=\"#ddd\"/>"));
            svg.Append(Inv($"<text x=\"{x0 + Left - 6}\" y=\"{Y(v) + 4:F1}\" text-anchor=\"end\">{v.ToString(yFormat, CultureInfo.InvariantCulture)}</text>\n"));
        }

        for (var e = 0; e <= xMax; e++)
        {
            svg.Append(Inv($"<text x=\"{X(e):F1}\" y=\"{Top + PlotHeight + 16}\" text-anchor=\"middle\">{e}</text>\n"));
        }

        svg.Append(Inv($"<text x=\"{x0 + Left + PlotWidth / 2}\" y=\"{Top + PlotHeight + 34}\" text-anchor=\"middle\">epoch</text>\n"));
        foreach (var (points, colour, markers) in series)
        {
            if (points.Count == 0)
            {
                continue;
            }

            var path = string.Join(" ", points.Select(p => Inv($"{X(p.X):F1},{Y(Math.Clamp(p.Y, yMin, yMax)):F1}")));
            svg.Append(Inv($"<polyline points=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{(markers ? 2 : 1.2)}\"/>\n"));
            if (markers)
            {
                foreach (var (px, py) in points)
                {
                    svg.Append(Inv($"<circle cx=\"{X(px):F1}\" cy=\"{Y(py):F1}\" r=\"3.5\" fill=\"{colour}\"><title>epoch {px:F0}: {py.ToString(yFormat == "F0" ? "F2" : "F4", CultureInfo.InvariantCulture)}</title></circle>\n"));
                }
            }
        }
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
