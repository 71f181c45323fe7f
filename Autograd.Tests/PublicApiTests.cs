using System.Reflection;
using Autograd.Tests.Support;

namespace Autograd.Tests;

/// <summary>
/// The approved public surface: each library's public and protected API, rendered by reflection
/// (<see cref="PublicApi"/>), must equal its file in docs/api, so that every change to it is a reviewed
/// diff of that file. With AUTOGRAD_APPROVE_API=1 the test writes the files instead (after a merge, or
/// once a change is meant): run it, read <c>git diff docs/api</c>, commit.
/// </summary>
public class PublicApiTests
{
    /// <summary>The libraries whose surface is approved, each by a type it holds.</summary>
    private static readonly Dictionary<string, Assembly> s_libraries = new()
    {
        ["Autograd.Core"] = typeof(Tensor<>).Assembly,
        ["Autograd.Ops"] = typeof(AddExtensions).Assembly,
        ["Autograd.Nn"] = typeof(Autograd.Nn.Module<>).Assembly,
        ["Autograd.Distributed"] = typeof(Autograd.Distributed.ProcessGroup).Assembly,
        ["Autograd.Testing"] = typeof(Autograd.Testing.GradCheck).Assembly,
    };

    private static bool Approving => Environment.GetEnvironmentVariable("AUTOGRAD_APPROVE_API") == "1";

    private static IEnumerable<string> Libraries => s_libraries.Keys;

    [TestCaseSource(nameof(Libraries))]
    public void PublicApi_MatchesTheApprovedFile(string library)
    {
        var assembly = s_libraries[library];
        Assert.That(assembly.GetName().Name, Is.EqualTo(library));
        var actual = PublicApi.Render(assembly);
        var path = Path.Combine(TestData.RepoRoot(), "docs", "api", library + ".txt");
        if (Approving)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
            Assert.Pass($"AUTOGRAD_APPROVE_API=1: wrote {path}; review it with git diff before committing.");
        }

        Assert.That(File.Exists(path), Is.True, $"{path} is missing: run the tests with AUTOGRAD_APPROVE_API=1 to write it.");
        var diff = PublicApi.Diff(File.ReadAllText(path), actual);
        if (diff.Length > 0)
        {
            Assert.Fail(
                $"The public API of {library} differs from docs/api/{library}.txt ('-' approved only, '+' built only).\n"
                + "If the change is meant, run the tests with AUTOGRAD_APPROVE_API=1 and commit the file with it.\n" + diff);
        }
    }

    /// <summary>
    /// The naming rule of Ops (docs/architecture.md, "Public surface"): a public static class is
    /// <c>&lt;Op&gt;Extensions</c>, named for the op or op family its file holds: the file's name (Add.cs:
    /// AddExtensions), a family's in the singular (Comparisons.cs: ComparisonExtensions). An op's static
    /// <c>Tensor.&lt;Op&gt;</c> form whose lowered signature equals its instance form's cannot share the class and
    /// is <c>&lt;Op&gt;StaticExtensions</c> in the same file.
    /// </summary>
    [Test]
    public void OpsStaticClasses_AreNamedForTheOpTheirFileHolds()
    {
        var sources = Directory.EnumerateFiles(Path.Combine(TestData.RepoRoot(), "Autograd.Ops"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToDictionary(f => f, File.ReadAllText);
        var classes = typeof(AddExtensions).Assembly.GetExportedTypes().Where(t => t is { IsAbstract: true, IsSealed: true, IsNested: false }).ToList();
        Assert.That(classes, Has.Count.GreaterThan(40));
        var wrong = new List<string>();
        foreach (var type in classes)
        {
            var files = sources.Where(s => s.Value.Contains($"public static class {type.Name}\n", StringComparison.Ordinal)
                || s.Value.Contains($"public static class {type.Name}\r\n", StringComparison.Ordinal)).Select(s => s.Key).ToList();
            if (files.Count != 1)
            {
                wrong.Add($"{type.Name}: declared in {files.Count} files");
                continue;
            }

            var file = Path.GetFileNameWithoutExtension(files[0]);
            string[] allowed = [file + "Extensions", file.TrimEnd('s') + "Extensions", file + "StaticExtensions"];
            if (!allowed.Contains(type.Name))
            {
                wrong.Add($"{type.Name} in {file}.cs (expected {allowed[0]})");
            }
        }

        Assert.That(wrong, Is.Empty);
    }

    [Test]
    public void Diff_ReportsRemovedAndAddedLinesUnderTheirType()
    {
        const string approved = "// header\n\npublic static class A\n    public static void F(int x)\n    public static void G()\n\npublic sealed class B\n    public int P { get; }\n";
        const string built = "// header\n\npublic static class A\n    public static void F(long x)\n    public static void G()\n\npublic sealed class B\n    public int P { get; }\n    public int Q { get; }\n";
        Assert.That(PublicApi.Diff(approved, approved), Is.Empty);
        Assert.That(PublicApi.Diff(approved, approved.Replace("\n", "\r\n", StringComparison.Ordinal)), Is.Empty, "line endings do not count");
        Assert.That(PublicApi.Diff(approved, built), Is.EqualTo(
            "@ public static class A\n"
            + "-     public static void F(int x)\n"
            + "+     public static void F(long x)\n"
            + "@ public sealed class B\n"
            + "+     public int Q { get; }"));
    }

    [Test]
    public void Render_ShowsExtensionBlocksDefaultsConstraintsAndNullability()
    {
        var ops = PublicApi.Render(typeof(AddExtensions).Assembly);
        const string where = " where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>";
        Assert.Multiple(() =>
        {
            // The block as C# declares it, and the static method it compiles to.
            Assert.That(ops, Does.Contain("\n    extension<T>(Autograd.Tensor<T> x)" + where + "\n"));
            Assert.That(ops, Does.Contain(
                "\n        public Autograd.Tensor<T> Relu([CallerFilePath] string callerFile = \"\", [CallerLineNumber] int callerLine = 0)\n"));
            Assert.That(ops, Does.Contain(
                "\n    public static Autograd.Tensor<T> Relu<T>(this Autograd.Tensor<T> x, [CallerFilePath] string callerFile = \"\", [CallerLineNumber] int callerLine = 0)" + where + "\n"));

            // A static extension member shows its receiver type only in the block.
            Assert.That(ops, Does.Contain("\n    extension(Autograd.Tensor)\n"));
        });
        var core = PublicApi.Render(typeof(Tensor<>).Assembly);
        Assert.That(core, Does.Contain("\n    public Autograd.Tensor<T>? Grad { get; set; }\n"), "nullable references keep their '?'");
    }
}
