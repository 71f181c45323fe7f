using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;
using Autograd.Nn;

namespace Autograd.Distributed;

/// <summary>
/// Data-parallel training of <see cref="Module"/> on every rank of a <see cref="ProcessGroup"/>, as PyTorch's
/// <c>DistributedDataParallel</c>: each rank runs the same model on its own part of the batch, and
/// <c>loss.Backward()</c> returns with every parameter's <c>Grad</c> averaged over the ranks, so that the same
/// optimiser step on every rank keeps the replicas identical.
/// </summary>
/// <remarks>
/// <para>At construction rank 0's parameters and buffers are copied to every rank. The gradients are packed
/// into buckets of about <c>bucketCapMB</c> megabytes, in reverse parameter order (roughly the order backward
/// produces them), and a bucket's all-reduce (MPI_Iallreduce) starts as soon as the gradients of all its
/// parameters are final, from a gradient hook, while backward goes on through the earlier layers. Buckets start
/// in index order on every rank. At the end of the pass a post-accumulate-grad hook waits for every bucket
/// and writes the averages into the <c>Grad</c>s.</para>
/// <para>What is reduced is the accumulated <c>Grad</c> (the one before the pass plus the pass's gradient),
/// as PyTorch's: inside <see cref="NoSync"/> gradients accumulate locally, and the first backward after it
/// averages the sum. Buffers (BatchNorm's running statistics) are not synchronised after construction: each
/// rank keeps its own. A shared (tied) parameter is one slot, reduced once. A parameter that gets no gradient
/// on a rank contributes its current <c>Grad</c> (or zeros); every rank must run backward the same number of
/// times outside <see cref="NoSync"/>. <see cref="Tensor.Grad{T}(Tensor{T}, Tensor{T}[], Tensor{T}?, bool?, bool, bool)"/>
/// through the wrapped model is not supported (PyTorch's DDP does not support torch.autograd.grad either).</para>
/// </remarks>
public sealed class DistributedDataParallel<T> : Module<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ProcessGroup _group;
    private readonly Bucket[] _buckets;
    private readonly Dictionary<Tensor<T>, (int Bucket, int Index)> _slots = new(ReferenceEqualityComparer.Instance);
    private readonly List<HookHandle> _hooks = [];
    private int _noSync;
    private bool _reducing;
    private int _nextLaunch;
    private long _waitTicks;

    /// <param name="module">The model; registered as the child "module" (state dict keys "module.…", as PyTorch's).</param>
    /// <param name="processGroup">The ranks to average over; <see cref="ProcessGroup.World"/> by default.</param>
    /// <param name="bucketCapMB">The size of a gradient bucket in megabytes (PyTorch's bucket_cap_mb, 25).</param>
    public DistributedDataParallel(Module<T> module, ProcessGroup? processGroup = null, double bucketCapMB = 25)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!(bucketCapMB > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(bucketCapMB), bucketCapMB, $"DistributedDataParallel: bucketCapMB must be positive, got {bucketCapMB}.");
        }

        Module = RegisterModule("module", module);
        _group = processGroup ?? ProcessGroup.World;

        // Rank 0's state everywhere (identical initialisations are not assumed).
        foreach (var (name, p) in module.NamedParameters())
        {
            BroadcastInto(p, $"parameter '{name}'");
        }

        foreach (var (name, b) in module.NamedBuffers())
        {
            BroadcastInto(b, $"buffer '{name}'");
        }

        // Buckets in reverse registration order: the last layer's gradients are ready first.
        var capElements = Math.Max(1, (long)(bucketCapMB * 1024 * 1024 / System.Runtime.CompilerServices.Unsafe.SizeOf<T>()));
        var buckets = new List<Bucket>();
        var current = new List<Tensor<T>>();
        long size = 0;
        foreach (var p in module.Parameters().Where(p => p.RequiresGrad).Reverse())
        {
            if (current.Count > 0 && size + p.Numel > capElements)
            {
                buckets.Add(new Bucket(current));
                current = [];
                size = 0;
            }

            current.Add(p);
            size += p.Numel;
        }

        if (current.Count > 0)
        {
            buckets.Add(new Bucket(current));
        }

        _buckets = [.. buckets];
        for (var b = 0; b < _buckets.Length; b++)
        {
            for (var i = 0; i < _buckets[b].Parameters.Length; i++)
            {
                var p = _buckets[b].Parameters[i];
                var slot = (b, i);
                _slots[p] = slot;
                _hooks.Add(p.RegisterHook(g => OnGradientReady(slot, p, g)));
                _hooks.Add(p.RegisterPostAccumulateGradHook(_ => FinishGradientSynchronization()));
            }
        }
    }

    /// <summary>The wrapped model (PyTorch's <c>ddp.module</c>).</summary>
    public Module<T> Module { get; }

    /// <summary>The group the gradients are averaged over.</summary>
    public ProcessGroup ProcessGroup => _group;

    /// <summary>How many gradient buckets the parameters were packed into.</summary>
    public int BucketCount => _buckets.Length;

    /// <summary>
    /// Time this rank has spent blocked waiting for gradient all-reduces to finish (at the end of backward),
    /// summed over every step so far: the communication that did not overlap with computation.
    /// </summary>
    public TimeSpan CommunicationWaitTime => Stopwatch.GetElapsedTime(0, _waitTicks);

    /// <summary>The Stopwatch timestamps at which each bucket's all-reduce started in the last synchronised pass (tests).</summary>
    internal long[] LaunchTimestamps => [.. _buckets.Select(b => b.LaunchedAt)];

    /// <summary>
    /// Within the scope, backward passes do not synchronise: gradients accumulate in each rank's <c>Grad</c>,
    /// and the first backward after it averages the accumulated sums (PyTorch's <c>no_sync()</c>, for
    /// gradient accumulation without a collective per micro-batch).
    /// </summary>
    public IDisposable NoSync()
    {
        _noSync++;
        return new Scope(() => _noSync--);
    }

    /// <summary>
    /// Waits for every gradient all-reduce of the pass and writes the averages into the parameters' <c>Grad</c>.
    /// Called by the parameters' post-accumulate-grad hooks when backward commits its gradients, so that
    /// <c>loss.Backward()</c> returns with them averaged; calling it again does nothing.
    /// </summary>
    public void FinishGradientSynchronization()
    {
        if (!_reducing)
        {
            return;
        }

        // Buckets whose parameters got no gradient this pass (unused on this rank) go with their current Grad.
        foreach (var bucket in _buckets)
        {
            for (var i = 0; i < bucket.Parameters.Length; i++)
            {
                if (!bucket.Filled[i])
                {
                    var p = bucket.Parameters[i];
                    var slot = bucket.Slot(i);
                    if (p.Grad is { } grad)
                    {
                        using var r = grad.Read();
                        r.ContiguousElements.CopyTo(slot.Span);
                    }
                    else
                    {
                        slot.Span.Clear();
                    }

                    bucket.Filled[i] = true;
                    bucket.Remaining--;
                }
            }
        }

        LaunchReady();
        var start = Stopwatch.GetTimestamp();
        foreach (var bucket in _buckets)
        {
            bucket.Work!.Wait();
        }

        _waitTicks += Stopwatch.GetTimestamp() - start;
        foreach (var bucket in _buckets)
        {
            for (var i = 0; i < bucket.Parameters.Length; i++)
            {
                var p = bucket.Parameters[i];
                var average = bucket.Slot(i).Span;
                if (p.Grad is { IsContiguous: true } grad)
                {
                    using var w = grad.Write();
                    average.CopyTo(w.Elements);
                }
                else if (p.Grad is not null || bucket.GotGradient[i])
                {
                    p.Grad = Tensor.FromArray(average.ToArray(), p.ShapeArray);
                }
            }

            bucket.Work = null;
        }

        _reducing = false;
    }

    /// <summary>Removes the gradient hooks: the wrapped module trains alone again.</summary>
    public void RemoveHooks()
    {
        foreach (var h in _hooks)
        {
            h.Remove();
        }

        _hooks.Clear();
    }

    protected override Tensor<T> ForwardCore(Tensor<T> input) => Module.Forward(input);

    private void OnGradientReady((int Bucket, int Index) slot, Tensor<T> p, Tensor<T> g)
    {
        if (_noSync > 0)
        {
            return;
        }

        if (!_reducing)
        {
            _reducing = true;
            _nextLaunch = 0;
            foreach (var b in _buckets)
            {
                b.Reset();
            }
        }

        var bucket = _buckets[slot.Bucket];
        if (bucket.Filled[slot.Index])
        {
            throw new InvalidOperationException(
                $"DistributedDataParallel: a parameter of shape {ShapeMath.Format(p.ShapeArray)} got a second gradient before the first was synchronised; "
                + "Tensor.Grad through a DistributedDataParallel model is not supported (use Backward), and every Backward must finish before the next.");
        }

        // The bucket holds the Grad the pass will leave (Grad + g, the engine's own sum) so that a Grad
        // accumulated under NoSync is averaged too.
        var target = bucket.Slot(slot.Index).Span;
        using (var gr = g.Read())
        {
            if (p.Grad is { } previous)
            {
                using var pr = previous.Read();
                TensorPrimitives.Add(pr.ContiguousElements, gr.ContiguousElements, target);
            }
            else
            {
                gr.ContiguousElements.CopyTo(target);
            }
        }

        bucket.Filled[slot.Index] = true;
        bucket.GotGradient[slot.Index] = true;
        bucket.Remaining--;
        LaunchReady();

        // Open MPI progresses non-blocking collectives only inside MPI calls: nudge the running ones.
        for (var b = 0; b < _nextLaunch; b++)
        {
            _ = _buckets[b].Work!.IsCompleted;
        }
    }

    /// <summary>Starts the all-reduce of every ready bucket, in index order, so that all ranks issue them alike.</summary>
    private void LaunchReady()
    {
        while (_nextLaunch < _buckets.Length && _buckets[_nextLaunch].Remaining == 0)
        {
            var bucket = _buckets[_nextLaunch++];
            bucket.LaunchedAt = Stopwatch.GetTimestamp();
            bucket.Work = _group.AllReduceAsync<T>(bucket.Buffer, ReduceOp.Average);
        }
    }

    private void BroadcastInto(Tensor<T> t, string what)
    {
        if (t.IsContiguous)
        {
            _group.Broadcast(t);
            return;
        }

        throw new ArgumentException($"DistributedDataParallel: {what} (shape {ShapeMath.Format(t.ShapeArray)}) is not contiguous; a parameter or buffer must own its storage.", "module");
    }

    /// <summary>Parameters reduced together, each a slice of one pinned flat buffer.</summary>
    private sealed class Bucket
    {
        private readonly int[] _offsets;

        public Bucket(List<Tensor<T>> parameters)
        {
            Parameters = [.. parameters];
            _offsets = new int[Parameters.Length + 1];
            for (var i = 0; i < Parameters.Length; i++)
            {
                _offsets[i + 1] = checked(_offsets[i] + Parameters[i].Numel);
            }

            Buffer = GC.AllocateUninitializedArray<T>(_offsets[^1], pinned: true);
            Filled = new bool[Parameters.Length];
            GotGradient = new bool[Parameters.Length];
        }

        public Tensor<T>[] Parameters { get; }

        public T[] Buffer { get; }

        public bool[] Filled { get; }

        public bool[] GotGradient { get; }

        public int Remaining { get; set; }

        public Work? Work { get; set; }

        public long LaunchedAt { get; set; }

        public Memory<T> Slot(int i) => Buffer.AsMemory(_offsets[i], _offsets[i + 1] - _offsets[i]);

        public void Reset()
        {
            Array.Clear(Filled);
            Array.Clear(GotGradient);
            Remaining = Parameters.Length;
            Work = null;
        }
    }

    private sealed class Scope(Action dispose) : IDisposable
    {
        private Action? _dispose = dispose;

        public void Dispose() => Interlocked.Exchange(ref _dispose, null)?.Invoke();
    }
}
