using System.Runtime.CompilerServices;

namespace Autograd;

/// <summary>Runs when Autograd.Ops is first used.</summary>
internal static class OpsModule
{
    /// <summary>Tells the tape that VJPs defined here are the library's own (the engine may recycle their gradients early).</summary>
    // A library module initializer on purpose (CA2255): it must run before any op records a node, and it
    // only stores a reference.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void Initialize() => Tape.TrustAssembly(typeof(OpsModule).Assembly);
#pragma warning restore CA2255
}
