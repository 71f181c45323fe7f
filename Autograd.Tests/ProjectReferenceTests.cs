using System.Text.RegularExpressions;
using Autograd.Tests.Support;

namespace Autograd.Tests;

/// <summary>
/// The direction of dependency (docs/architecture.md): Core ← Ops ← Nn ← Distributed and Core ← Ops ← Testing,
/// Nn and Testing independent of each other; the test projects and the example reference libraries
/// only, never an executable.
/// </summary>
public partial class ProjectReferenceTests
{
    private static readonly Dictionary<string, string[]> s_allowed = new()
    {
        ["Autograd.Core"] = [],
        ["Autograd.Ops"] = ["Autograd.Core"],
        ["Autograd.Nn"] = ["Autograd.Core", "Autograd.Ops"],
        ["Autograd.Testing"] = ["Autograd.Core", "Autograd.Ops"],
        ["Autograd.Tests"] = ["Autograd.Core", "Autograd.Ops", "Autograd.Nn", "Autograd.Testing", "Autograd.Distributed"],
        ["Autograd.Nn.Tests"] = ["Autograd.Core", "Autograd.Ops", "Autograd.Nn", "Autograd.Testing"],
        ["Autograd.Example"] = ["Autograd.Core", "Autograd.Ops", "Autograd.Nn", "Autograd.Distributed"],
        // The workload runner's gpt_step times the GPT job's own model and step (Autograd.Example's CharGpt, GptJob).
        ["Autograd.Benchmarks"] = ["Autograd.Core", "Autograd.Ops", "Autograd.Nn", "Autograd.Example"],
        ["Autograd.Distributed"] = ["Autograd.Core", "Autograd.Ops", "Autograd.Nn"],
        ["Autograd.Distributed.Tests"] = ["Autograd.Core", "Autograd.Ops", "Autograd.Nn", "Autograd.Distributed"],
    };

    [GeneratedRegex("""<ProjectReference\s+Include="[^"]*?([\w.]+)\.csproj"\s*/?>""")]
    private static partial Regex ProjectReference();

    [Test]
    public void EveryProject_ReferencesOnlyWhatItsLayerMay()
    {
        var root = TestData.RepoRoot();
        var projects = Directory.GetDirectories(root, "Autograd.*").Where(d => File.Exists(Path.Combine(d, Path.GetFileName(d) + ".csproj"))).Select(Path.GetFileName).ToList();
        Assert.That(projects, Is.EquivalentTo(s_allowed.Keys), "a new project needs its row here");
        Assert.Multiple(() =>
        {
            foreach (var project in projects)
            {
                var csproj = File.ReadAllText(Path.Combine(root, project!, project + ".csproj"));
                var references = ProjectReference().Matches(csproj).Select(m => m.Groups[1].Value).ToList();
                Assert.That(references, Is.SubsetOf(s_allowed[project!]), project);
            }
        });
    }

    [Test]
    public void Testing_DoesNotReferenceNn()
    {
        var testing = typeof(Autograd.Testing.GradCheck).Assembly;
        Assert.That(testing.GetReferencedAssemblies().Select(a => a.Name), Has.None.EqualTo("Autograd.Nn"));
        Assert.That(typeof(Autograd.Nn.Module<>).Assembly.GetReferencedAssemblies().Select(a => a.Name), Has.None.EqualTo("Autograd.Testing"));
    }
}
