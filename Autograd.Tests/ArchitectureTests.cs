using System.Text.RegularExpressions;
using Autograd.Tests.Support;

namespace Autograd.Tests;

/// <summary>
/// The memory boundary (docs/architecture.md, "The memory boundary"): outside Core, a tensor's elements are
/// reached only inside a <c>using var xr = x.Read();</c> / <c>x.Write()</c> scope, whose end keeps the tensor,
/// and so its pooled buffer, alive for as long as the spans are used. A source scan of the projects above
/// Core fails on anything that reaches the storage around it.
/// </summary>
public class ArchitectureTests
{
    /// <summary>The projects scanned, every subfolder but obj/ and bin/.</summary>
    private static readonly string[] Projects = ["Autograd.Ops", "Autograd.Nn", "Autograd.Testing", "Autograd.Distributed"];

    private static readonly (string Name, Regex Pattern)[] Forbidden =
    [
        ("_storage", new Regex(@"\b_storage\b")),
        ("GC.KeepAlive (take a Read()/Write() scope instead)", new Regex(@"\bGC\.KeepAlive\b")),
        ("Tensor.Storage", new Regex(@"\.Storage\b")),
        ("Tensor.Data", new Regex(@"(?<!\bAutograd)\.Data\b")),   // not the namespace Autograd.Data
    ];

    /// <summary>Members of other types that share a forbidden name: IdxArray.Data is an IDX file's bytes (a byte[]), not a tensor's elements.</summary>
    private static readonly Regex OtherTypesMembers = new(@"\b(images|labels)\.Data\b");

    [Test]
    public void OpsNnAndTesting_ReachElementsOnlyThroughReadAndWriteScopes()
    {
        var root = TestData.RepoRoot();
        var violations = new List<string>();
        foreach (var project in Projects)
        {
            var files = SourceFiles(Path.Combine(root, project)).ToList();
            Assert.That(files, Is.Not.Empty, $"no source files found under {project}");
            foreach (var file in files)
            {
                var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
                var lines = File.ReadAllLines(file);
                for (var i = 0; i < lines.Length; i++)
                {
                    var code = OtherTypesMembers.Replace(WithoutComment(lines[i]), "");
                    foreach (var (name, pattern) in Forbidden)
                    {
                        if (pattern.IsMatch(code))
                        {
                            violations.Add($"{relative}:{i + 1}: {name}: {lines[i].Trim()}");
                        }
                    }
                }
            }
        }

        Assert.That(violations, Is.Empty, "element access around the Read()/Write() scopes (docs/architecture.md, \"The memory boundary\"):\n" + string.Join("\n", violations));
    }

    /// <summary>The .cs files of a project, without obj/ and bin/.</summary>
    private static IEnumerable<string> SourceFiles(string projectDir)
    {
        return Directory.EnumerateFiles(projectDir, "*.cs", SearchOption.AllDirectories)
            .Where(file =>
            {
                var top = Path.GetRelativePath(projectDir, file).Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar)[0];
                return top is not ("obj" or "bin");
            })
            .Order(StringComparer.Ordinal);
    }

    /// <summary>The line without its <c>//</c> comment: the first <c>//</c> outside a string literal (an even number of unescaped quotes before it).</summary>
    private static string WithoutComment(string line)
    {
        var quotes = 0;
        for (var i = 0; i + 1 < line.Length; i++)
        {
            if (line[i] == '"' && (i == 0 || line[i - 1] != '\\'))
            {
                quotes++;
            }
            else if (line[i] == '/' && line[i + 1] == '/' && quotes % 2 == 0)
            {
                return line[..i];
            }
        }

        return line;
    }
}
