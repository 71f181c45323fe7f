using System.Text.Json.Nodes;

namespace Autograd.Optim;

/// <summary>
/// Runs <c>schedulers[0]</c> until the first milestone, then <c>schedulers[1]</c> from its own epoch 0, and so on
/// (PyTorch's <c>SequentialLR</c>): at epoch e the scheduler k = number of milestones ≤ e is at epoch
/// e − milestones[k − 1] (e itself for k = 0). Make the parts on the same optimiser first; this applies the first
/// part's epoch 0 again, over the rates the later parts' constructors set, as PyTorch's constructor does.
/// </summary>
public sealed class SequentialLR : LRScheduler
{
    private readonly LRScheduler[] _schedulers;
    private readonly int[] _milestones;

    public SequentialLR(IOptimizer optimizer, IReadOnlyList<LRScheduler> schedulers, IReadOnlyList<int> milestones)
        : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(schedulers);
        ArgumentNullException.ThrowIfNull(milestones);
        if (schedulers.Count == 0)
        {
            throw new ArgumentException("SequentialLR: expects at least one scheduler, got none.", nameof(schedulers));
        }

        for (var i = 0; i < schedulers.Count; i++)
        {
            if (schedulers[i] is null)
            {
                throw new ArgumentException($"SequentialLR: scheduler {i} is null.", nameof(schedulers));
            }

            if (!ReferenceEquals(schedulers[i].Optimizer, optimizer))
            {
                throw new ArgumentException($"SequentialLR: scheduler {i} ({schedulers[i].GetType().Name}) drives another optimiser than the one given.", nameof(schedulers));
            }
        }

        if (milestones.Count != schedulers.Count - 1)
        {
            throw new ArgumentException(
                $"SequentialLR: expects {schedulers.Count - 1} milestones for {schedulers.Count} schedulers (one between each two), got {milestones.Count}.", nameof(milestones));
        }

        for (var i = 0; i < milestones.Count; i++)
        {
            if (milestones[i] < 1 || (i > 0 && milestones[i] <= milestones[i - 1]))
            {
                throw new ArgumentException(
                    $"SequentialLR: milestones must be positive and increasing, got [{string.Join(", ", milestones)}].", nameof(milestones));
            }
        }

        _schedulers = [.. schedulers];
        _milestones = [.. milestones];
        // PyTorch resets each group to its initial_lr and reruns the first part's initial step, undoing the rates the
        // later parts' constructors set; a closed form needs only the second half, since it sets the rate outright.
        _schedulers[0].ApplyAt(0);
    }

    /// <summary>The parts, in order.</summary>
    public IReadOnlyList<LRScheduler> Schedulers => _schedulers;

    /// <summary>The epochs at which the next part takes over.</summary>
    public IReadOnlyList<int> Milestones => _milestones;

    private protected override void SaveState(JsonObject state) =>
        state["schedulers"] = new JsonArray([.. _schedulers.Select(s => (JsonNode)s.StateDict())]);

    private protected override void Check(JsonObject state, List<string> errors)
    {
        base.Check(state, errors);
        if (state["schedulers"] is not JsonArray parts || parts.Count != _schedulers.Length)
        {
            errors.Add($"schedulers is not an array of {_schedulers.Length} states");
            return;
        }

        for (var i = 0; i < parts.Count; i++)
        {
            if (parts[i] is not JsonObject part)
            {
                errors.Add($"scheduler {i}: not an object");
                continue;
            }

            var inner = new List<string>();
            _schedulers[i].CheckPart(part, inner);
            errors.AddRange(inner.Select(e => $"scheduler {i}: {e}"));
        }
    }

    private protected override void Load(JsonObject state)
    {
        base.Load(state);
        var parts = (JsonArray)state["schedulers"]!;
        for (var i = 0; i < _schedulers.Length; i++)
        {
            _schedulers[i].LoadPart((JsonObject)parts[i]!);
        }
    }

    private protected override void Apply(int epoch)
    {
        var (scheduler, local) = Active(epoch);
        scheduler.ApplyAt(local);
    }

    protected override double LearningRate(double baseLr, int epoch)
    {
        var (scheduler, local) = Active(epoch);
        return scheduler.LearningRateAt(baseLr, local);
    }

    /// <summary>The part that runs at <paramref name="epoch"/> and its own epoch then (PyTorch's bisect_right over the milestones).</summary>
    private (LRScheduler Scheduler, int Epoch) Active(int epoch)
    {
        var k = 0;
        while (k < _milestones.Length && _milestones[k] <= epoch)
        {
            k++;
        }

        return (_schedulers[k], k == 0 ? epoch : epoch - _milestones[k - 1]);
    }
}
