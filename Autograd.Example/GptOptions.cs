using System.Globalization;

namespace Autograd.Example;

/// <summary>The options of <c>dotnet run --project Autograd.Example -c Release -- gpt ...</c>, parsed and checked.</summary>
public sealed record GptOptions(string Data, int Iters, int Threads, ulong Seed, string Out)
{
    /// <summary>--distributed: train data-parallel over the ranks of mpirun (GptProgram).</summary>
    public bool Distributed { get; init; }

    public const string Usage = """
        usage: dotnet run --project Autograd.Example -c Release -- gpt [--data FILE] [--iters N] [--threads N] [--seed S] [--out DIR]
          trains gpt_char.py's character-level GPT (4 layers, 4 heads, 128 channels, context 64, batch 12) on a text
          --data FILE   the text (default: ../shared/data/tinyshakespeare.txt relative to the repository)
          --iters N     AdamW steps, also where the cosine schedule ends (default 2000, the recipe)
          --threads N   threads per op (default 2, as the script)
          --seed S      seeds the initial weights, the batches and the sample (the engine's Generator; default 1337)
          --out DIR     where gpt.safetensors and results.json go (default: out)
          --distributed data-parallel over mpirun's ranks: the batch of 12 split between them (docs/distributed.md)
        """;

    /// <summary>Where to get the text when it is missing.</summary>
    public const string HowToGet =
        "get it with: curl -fLo tinyshakespeare.txt https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt";

    /// <summary>
    /// Parses the arguments after the <c>gpt</c> verb. Returns the options, or null with the message and exit code
    /// (0 for --help, whose message is the usage; 2 for a bad option or a missing data file, whose message says where
    /// the file was expected and how to get it).
    /// </summary>
    /// <param name="args">The arguments after <c>gpt</c>.</param>
    /// <param name="defaultData">The data file when no --data is given.</param>
    public static (GptOptions? Options, string? Message, int ExitCode) Parse(IReadOnlyList<string> args, string defaultData)
    {
        ArgumentNullException.ThrowIfNull(args);
        string? data = null;
        int iters = 2000, threads = 2;
        ulong seed = 1337;
        var outDir = "out";
        var distributed = false;
        for (var i = 0; i < args.Count; i++)
        {
            var option = args[i];
            if (option is "-h" or "--help")
            {
                return (null, Usage, 0);
            }

            if (option is "--distributed")
            {
                distributed = true;
                continue;
            }

            if (option is not ("--data" or "--iters" or "--threads" or "--seed" or "--out"))
            {
                return (null, $"error: unknown option '{option}'.\n{Usage}", 2);
            }

            if (i + 1 >= args.Count)
            {
                return (null, $"error: {option} needs a value.\n{Usage}", 2);
            }

            var value = args[++i];
            switch (option)
            {
                case "--data":
                    data = value;
                    break;
                case "--out":
                    outDir = value;
                    break;
                case "--seed":
                    if (!ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out seed))
                    {
                        return (null, $"error: --seed must be a non-negative integer, got '{value}'.\n{Usage}", 2);
                    }

                    break;
                case "--iters" when PositiveInt(value) is { } n:
                    iters = n;
                    break;
                case "--threads" when PositiveInt(value) is { } n:
                    threads = n;
                    break;
                default:
                    return (null, $"error: {option} must be a positive integer, got '{value}'.\n{Usage}", 2);
            }
        }

        var path = data ?? defaultData;
        if (!File.Exists(path))
        {
            var where = data is null
                ? $"no --data given, and the default file {Path.GetFullPath(path)} (../shared/data/tinyshakespeare.txt relative to the repository) does not exist"
                : $"the data file '{path}' does not exist";
            return (null, $"error: {where}.\n{HowToGet}\nthen pass it with --data FILE.", 2);
        }

        return (new GptOptions(path, iters, threads, seed, outDir) { Distributed = distributed }, null, 0);
    }

    private static int? PositiveInt(string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 ? n : null;

    /// <summary>../shared/data/tinyshakespeare.txt next to the repository holding <paramref name="start"/> (the directory with Autograd.sln), else next to <paramref name="start"/>.</summary>
    public static string DefaultDataPath(string start)
    {
        var dir = new DirectoryInfo(Path.GetFullPath(start));
        for (var d = dir; d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Autograd.sln")))
            {
                dir = d;
                break;
            }
        }

        return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data", "tinyshakespeare.txt"));
    }
}
