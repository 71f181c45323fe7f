using System.Globalization;

namespace Autograd.Nn;

/// <summary>Values as Python's repr prints them, for the PyTorch-style <c>ToString()</c> of modules.</summary>
internal static class PyRepr
{
    /// <summary>A float: 0.01, 1e-05 (not 1E-05).</summary>
    public static string Float(double value) => value.ToString(CultureInfo.InvariantCulture).ToLowerInvariant();
}
