using System.Globalization;
using System.Text;

namespace Autograd.Testing;

/// <summary>C# source text for the reproductions a failure report prints.</summary>
internal static class CSharp
{
    /// <summary>A literal that parses back to exactly <paramref name="value"/> (shortest round-trip form).</summary>
    public static string Double(double value)
    {
        if (double.IsNaN(value))
        {
            return "double.NaN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "double.PositiveInfinity" : "double.NegativeInfinity";
        }

        if (value == 0 && double.IsNegative(value))
        {
            // "-0" would be the int 0, i.e. +0.0.
            return "-0.0";
        }

        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>"new double[] { 0.5, -1.25 }", wrapped every eight values.</summary>
    public static string DoubleArray(IReadOnlyList<double> values, string indent)
    {
        if (values.Count == 0)
        {
            return "new double[0]";
        }

        var sb = new StringBuilder("new double[] { ");
        for (var i = 0; i < values.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(i % 8 == 0 ? ",\n" + indent + "    " : ", ");
            }

            sb.Append(Double(values[i]));
        }

        return sb.Append(" }").ToString();
    }

    /// <summary>"[2, 3]", which is also a collection expression for an int[] argument.</summary>
    public static string Shape(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    public static string Flags(VjpChecks checks)
    {
        if (checks == VjpChecks.None)
        {
            return "VjpChecks.None";
        }

        if (checks == VjpChecks.All)
        {
            return "VjpChecks.All";
        }

        return string.Join(" | ", Enum.GetValues<VjpChecks>()
            .Where(c => c != VjpChecks.None && c != VjpChecks.All && checks.HasFlag(c))
            .Select(c => $"VjpChecks.{c}"));
    }

    public static string Views(IEnumerable<ViewKind> views) => "[" + string.Join(", ", views.Select(v => $"ViewKind.{v}")) + "]";

    /// <summary>An identifier made from free text: "MatMul [2, 2]" gives "MatMul_2_2".</summary>
    public static string Identifier(string text)
    {
        var sb = new StringBuilder();
        var pendingUnderscore = false;
        foreach (var ch in text)
        {
            if (char.IsLetterOrDigit(ch))
            {
                if (pendingUnderscore && sb.Length > 0)
                {
                    sb.Append('_');
                }

                sb.Append(ch);
                pendingUnderscore = false;
            }
            else
            {
                pendingUnderscore = true;
            }
        }

        if (sb.Length == 0 || char.IsDigit(sb[0]))
        {
            sb.Insert(0, "Case_");
        }

        return sb.ToString();
    }
}
