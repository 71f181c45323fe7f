using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Autograd.Data;
using Autograd.Optim;

namespace Autograd.Nn;

/// <summary>What <see cref="Checkpoint.Load{T}"/> read besides the states it restored.</summary>
/// <param name="Epoch">The epoch given to <see cref="Checkpoint.Save{T}"/>.</param>
/// <param name="LoaderEpoch">The data loader's <see cref="IDataLoader.Epoch"/> when it was saved, if a loader was given.</param>
/// <param name="Metadata">The file's string metadata (the JSON of each part, and any extra entries given to Save).</param>
public sealed record CheckpointInfo(int Epoch, int? LoaderEpoch, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// A training checkpoint in one safetensors file: the model's state dict, the optimiser's (moments, step counts,
/// parameter groups), the LR scheduler's, the epoch, the data loader's epoch and the random generators' states, so
/// that a run resumed from it continues bit for bit as if it had not stopped.
/// </summary>
/// <remarks>
/// <para>Format: tensors under <c>model.&lt;name&gt;</c> (the model's state dict) and <c>optimizer.state.&lt;index&gt;.&lt;key&gt;</c>
/// (PyTorch's keys: <c>exp_avg</c>, <c>momentum_buffer</c>, …); the rest is JSON in the header's string metadata:
/// <c>format</c>, <c>epoch</c>, <c>optimizer</c> (type, parameter groups with their options, step counts),
/// <c>scheduler</c> (its <see cref="LRScheduler.StateDict"/>), <c>loader_epoch</c> and <c>generators</c> (hex of
/// <see cref="Generator.GetState"/>). Why safetensors rather than a zip or a pickle: one file, written by the
/// same validated writer as model weights, readable by PyTorch's and Hugging Face's safetensors loaders (the
/// tensors as a dict, the metadata from the header), with no code executed on load; the states that are not
/// tensors are small and JSON keeps them readable.</para>
/// <para>Saving writes a temporary file beside <c>path</c> and moves it over, so a crash while saving leaves the
/// previous checkpoint whole. Loading checks the optimiser's and scheduler's states before changing anything; the
/// model is checked and loaded by <see cref="Module{T}.LoadStateDict(IReadOnlyDictionary{string, Tensor{T}}, bool)"/>.</para>
/// </remarks>
public static class Checkpoint
{
    /// <summary>The <c>format</c> entry of the metadata.</summary>
    public const string Format = "autograd.checkpoint/1";

    private const string ModelPrefix = "model.";
    private const string StatePrefix = "optimizer.state.";

    /// <summary>
    /// Writes a checkpoint of <paramref name="model"/> and, when given, <paramref name="optimizer"/>,
    /// <paramref name="scheduler"/> and <paramref name="loader"/>'s epoch, with <paramref name="epoch"/> and the states
    /// of <paramref name="generators"/> (<see cref="Tensor.DefaultGenerator"/> when null; pass every generator whose
    /// draws the rest of the run depends on, such as a Dropout's).
    /// </summary>
    public static void Save<T>(
        string path, Module<T> model, Optimizer<T>? optimizer = null, LRScheduler? scheduler = null, int epoch = 0, IDataLoader? loader = null,
        IReadOnlyList<Generator>? generators = null, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        var tensors = new List<KeyValuePair<string, Tensor<T>>>();
        foreach (var (name, tensor) in model.StateDict())
        {
            tensors.Add(new(ModelPrefix + name, tensor));
        }

        var meta = new Dictionary<string, string>();
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            meta[key] = value;
        }

        meta["format"] = Format;
        meta["epoch"] = epoch.ToString(CultureInfo.InvariantCulture);
        if (optimizer is not null)
        {
            var state = optimizer.StateDict();
            var scalars = new JsonObject();
            foreach (var (index, entry) in state.State)
            {
                foreach (var (key, tensor) in entry.Tensors)
                {
                    tensors.Add(new($"{StatePrefix}{index}.{key}", tensor));
                }

                scalars[index.ToString(CultureInfo.InvariantCulture)] = new JsonObject([.. entry.Scalars.Select(s => KeyValuePair.Create(s.Key, (JsonNode?)s.Value))]);
            }

            var groups = new JsonArray();
            foreach (var group in state.ParamGroups)
            {
                groups.Add(new JsonObject
                {
                    ["options_type"] = group.Options.GetType().Name,
                    ["options"] = JsonSerializer.SerializeToNode(group.Options, group.Options.GetType()),
                    ["initial_lr"] = group.InitialLr,
                    ["params"] = new JsonArray([.. group.Params.Select(i => (JsonNode)i)]),
                });
            }

            meta["optimizer"] = new JsonObject
            {
                ["type"] = TypeName(optimizer),
                ["param_groups"] = groups,
                ["state"] = scalars,
            }.ToJsonString();
        }

        if (scheduler is not null)
        {
            meta["scheduler"] = scheduler.StateDict().ToJsonString();
        }

        if (loader is not null)
        {
            meta["loader_epoch"] = loader.Epoch.ToString(CultureInfo.InvariantCulture);
        }

        meta["generators"] = new JsonArray([.. Generators(generators).Select(g => (JsonNode)Convert.ToHexString(g.GetState()))]).ToJsonString();
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            SafeTensors.Save(temporary, tensors, meta);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Restores a checkpoint written by <see cref="Save{T}"/> into fresh (or running) objects made as for the saved
    /// run: the model's parameters and buffers, the optimiser's and scheduler's states, the loader's epoch, and the
    /// states of <paramref name="generators"/> (<see cref="Tensor.DefaultGenerator"/> when null), each in place.
    /// A part given here but missing from the file, or not fitting the object, throws before anything is changed.
    /// </summary>
    public static CheckpointInfo Load<T>(
        string path, Module<T> model, Optimizer<T>? optimizer = null, LRScheduler? scheduler = null, IDataLoader? loader = null,
        IReadOnlyList<Generator>? generators = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(model);
        var metadata = SafeTensors.LoadMetadata(path);
        var tensors = SafeTensors.Load<T>(path);
        string Entry(string key) => metadata.TryGetValue(key, out var value)
            ? value
            : throw new InvalidDataException($"Checkpoint.Load '{path}': the file has no '{key}' entry{(key == "format" ? " (not a checkpoint written by Checkpoint.Save)" : "")}.");

        if (Entry("format") != Format)
        {
            throw new InvalidDataException($"Checkpoint.Load '{path}': format '{metadata["format"]}', expected '{Format}'.");
        }

        var epoch = ParseInt(Entry("epoch"), path, "epoch");
        var loaderEpoch = metadata.TryGetValue("loader_epoch", out var le) ? ParseInt(le, path, "loader_epoch") : (int?)null;
        if (loader is not null && loaderEpoch is null)
        {
            throw new InvalidDataException($"Checkpoint.Load '{path}': a loader was given but the checkpoint has no loader epoch.");
        }

        var targets = Generators(generators);
        var states = Parse(path, "generators", () => Json(Entry("generators")).AsArray().Select(n => Convert.FromHexString(Value(n).GetValue<string>())).ToArray());
        if (states.Length != targets.Count || states.Any(s => s.Length != Generator.StateSize))
        {
            throw new InvalidDataException($"Checkpoint.Load '{path}': the checkpoint holds {states.Length} generator states but {targets.Count} generators were given.");
        }

        // Check everything that can be checked before the first change.
        var optimizerState = optimizer is null ? null : OptimizerState(path, Entry("optimizer"), tensors, optimizer);
        var schedulerState = scheduler is null ? null : Parse(path, "scheduler", () => Json(Entry("scheduler")).AsObject());
        if (optimizer is not null)
        {
            optimizer.CheckStateDict(optimizerState!);
        }

        if (scheduler is not null)
        {
            scheduler.CheckStateDict(schedulerState!);
        }

        var modelState = new Dictionary<string, Tensor<T>>();
        foreach (var (name, tensor) in tensors)
        {
            if (name.StartsWith(ModelPrefix, StringComparison.Ordinal))
            {
                modelState[name[ModelPrefix.Length..]] = tensor;
            }
        }

        model.LoadStateDict(modelState, strict: true, source: path);
        optimizer?.LoadStateDict(optimizerState!);
        scheduler?.LoadStateDict(schedulerState!);
        if (loader is not null)
        {
            loader.Epoch = loaderEpoch!.Value;
        }

        for (var i = 0; i < states.Length; i++)
        {
            targets[i].SetState(states[i]);
        }

        return new CheckpointInfo(epoch, loaderEpoch, metadata);
    }

    private static OptimizerStateDict<T> OptimizerState<T>(string path, string json, OrderedDictionary<string, Tensor<T>> tensors, Optimizer<T> optimizer)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Parse(path, "optimizer", () =>
        {
            var root = Json(json).AsObject();
            var type = Field(root, "type").GetValue<string>();
            if (type != TypeName(optimizer))
            {
                throw new InvalidDataException($"Checkpoint.Load '{path}': the checkpoint holds the state of {type} but the optimiser given is {TypeName(optimizer)}.");
            }

            var dict = new OptimizerStateDict<T>();
            var groups = Field(root, "param_groups").AsArray();
            for (var g = 0; g < groups.Count; g++)
            {
                var group = Value(groups[g]).AsObject();
                // The options deserialise into the type of the given optimiser's group: the same record type when the
                // optimiser was made as for the saved run (the state dict check names any other).
                var current = g < optimizer.ParamGroups.Count ? optimizer.ParamGroups[g].Options.GetType() : null;
                var options = current is not null && Field(group, "options_type").GetValue<string>() == current.Name
                    ? (OptimizerOptions)Value(Field(group, "options").Deserialize(current))
                    : throw new InvalidDataException($"Checkpoint.Load '{path}': group {g} has options {group["options_type"]} but the optimiser's group {g} has {current?.Name ?? "no options (there is no such group)"}.");
                dict.ParamGroups.Add(new ParamGroupState(options, group["initial_lr"]?.GetValue<double>(), [.. Field(group, "params").AsArray().Select(i => Value(i).GetValue<int>())]));
            }

            foreach (var (key, scalars) in Field(root, "state").AsObject())
            {
                var entry = new ParameterState<T>();
                foreach (var (name, value) in Value(scalars).AsObject())
                {
                    entry.Scalars[name] = Value(value).GetValue<double>();
                }

                dict.State[int.Parse(key, CultureInfo.InvariantCulture)] = entry;
            }

            foreach (var (name, tensor) in tensors)
            {
                if (!name.StartsWith(StatePrefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var rest = name[StatePrefix.Length..];
                var dot = rest.IndexOf('.');
                var index = int.Parse(rest[..dot], CultureInfo.InvariantCulture);
                if (!dict.State.TryGetValue(index, out var entry))
                {
                    dict.State[index] = entry = new ParameterState<T>();
                }

                entry.Tensors[rest[(dot + 1)..]] = tensor;
            }

            return dict;
        });

    /// <summary>The generators given, or the default one; none may be null.</summary>
    private static IReadOnlyList<Generator> Generators(IReadOnlyList<Generator>? generators)
    {
        if (generators is null)
        {
            return [Tensor.DefaultGenerator];
        }

        for (var i = 0; i < generators.Count; i++)
        {
            if (generators[i] is null)
            {
                throw new ArgumentException($"Checkpoint: generator {i} is null.", nameof(generators));
            }
        }

        return generators;
    }

    /// <summary>Parsed JSON; a null document is malformed.</summary>
    private static JsonNode Json(string json) => Value(JsonNode.Parse(json));

    /// <summary>The value under <paramref name="key"/>; a missing or null one is malformed.</summary>
    private static JsonNode Field(JsonObject o, string key) => o[key] ?? throw new FormatException($"no '{key}'");

    private static TNode Value<TNode>(TNode? node)
        where TNode : class
        => node ?? throw new FormatException("a null where a value belongs");

    private static string TypeName(object o) => o.GetType().Name.Split('`')[0];

    private static int ParseInt(string value, string path, string key) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new InvalidDataException($"Checkpoint.Load '{path}': '{key}' is '{value}', not a non-negative integer.");

    /// <summary>Runs a parse of the <paramref name="part"/> entry, turning malformed JSON into an InvalidDataException that names the file and the part.</summary>
    private static TResult Parse<TResult>(string path, string part, Func<TResult> parse)
    {
        try
        {
            return parse();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or OverflowException or ArgumentException)
        {
            throw new InvalidDataException($"Checkpoint.Load '{path}': the '{part}' entry is malformed ({e.Message}).", e);
        }
    }
}
