using System.Runtime.CompilerServices;
using Autograd.Testing;

namespace Autograd.Nn.Tests;

/// <summary>
/// <c>GradCheck.Check(module, input)</c> for these tests: Autograd.Testing does not reference Autograd.Nn
/// (both stand on Ops alone), so the module form is this extension of <see cref="GradCheck"/>, over
/// the public <see cref="GradCheck.CheckParameters(Func{Tensor{double}}, IReadOnlyList{Tensor{double}}, GradCheckOptions?, string?)"/>.
/// A user checks a module the same way: <c>GradCheck.CheckParameters(() =&gt; module.Forward(x), [.. module.Parameters()])</c>.
/// </summary>
internal static class ModuleGradCheckExtensions
{
    extension(GradCheck)
    {
        /// <summary>
        /// Checks a module: the Jacobian of <c>module.Forward(input)</c> with respect to every parameter of the
        /// module (recursively, as <see cref="Module{T}.Parameters"/> lists them) against central differences,
        /// with the VJP checks. The input is held constant; a module whose forward depends on randomness
        /// (dropout in training mode) must be put in <c>Eval()</c> first. Parameters are restored.
        /// </summary>
        public static GradCheckResult Check(
            Module<double> module,
            Tensor<double> input,
            GradCheckOptions? options = null,
            [CallerArgumentExpression(nameof(module))] string? moduleText = null)
        {
            ArgumentNullException.ThrowIfNull(module);
            ArgumentNullException.ThrowIfNull(input);
            var parameters = module.Parameters().ToArray();
            if (parameters.Length == 0)
            {
                throw new ArgumentException($"GradCheck: the module {module.GetType().Name} has no parameters to check.", nameof(module));
            }

            var constant = input.Detach();
            return GradCheck.CheckParameters(() => module.Forward(constant), parameters, options, $"{moduleText}.Forward(input)");
        }
    }
}
