using System.Buffers;
using System.Diagnostics;
using System.Numerics;
using System.Numerics.Tensors;

namespace Autograd.Distributed;

/// <summary>How <see cref="ProcessGroup.AllReduce{T}(Span{T}, ReduceOp)"/> combines the ranks' values (PyTorch's <c>ReduceOp</c>).</summary>
public enum ReduceOp
{
    /// <summary>The sum over ranks.</summary>
    Sum,

    /// <summary>The sum over ranks divided by the world size.</summary>
    Average,

    /// <summary>The largest value over ranks.</summary>
    Max,
}

/// <summary>
/// The processes of one job and the collectives between them, over Open MPI (PyTorch's
/// <c>torch.distributed</c> with the <c>mpi</c> backend). Started by <c>mpirun</c> (OMPI_COMM_WORLD_SIZE is
/// set), <see cref="World"/> initialises MPI; started alone it is a group of one in which every collective
/// is the identity and libmpi is never loaded. Every collective is called by every rank, in the same order,
/// with the same counts: MPI matches calls by order, not by name.
/// </summary>
/// <remarks>
/// An exception no one catches on any rank prints its message and aborts the whole job (MPI_Abort): the
/// other ranks would otherwise wait forever in their next collective.
/// </remarks>
public sealed class ProcessGroup
{
    private static readonly Lock s_initLock = new();
    private static ProcessGroup? s_world;

    // MPI is initialised with MPI_THREAD_SERIALIZED: this lock keeps calls from two threads apart.
    private readonly Lock _mpi = new();
    private bool _finalized;

    private ProcessGroup(int rank, int worldSize, bool usesMpi)
    {
        Rank = rank;
        WorldSize = worldSize;
        UsesMpi = usesMpi;
    }

    /// <summary>
    /// The group of every process of the job (MPI_COMM_WORLD), initialised on first use: from the
    /// <c>mpirun</c> environment, or a group of one without it.
    /// </summary>
    public static ProcessGroup World
    {
        get
        {
            lock (s_initLock)
            {
                return s_world ??= Create();
            }
        }
    }

    /// <summary>True when this process was started by Open MPI's <c>mpirun</c> (it set OMPI_COMM_WORLD_SIZE).</summary>
    public static bool IsLaunchedByMpirun => Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is { Length: > 0 };

    /// <summary>This process's index in the group, 0 … <see cref="WorldSize"/> − 1.</summary>
    public int Rank { get; }

    /// <summary>How many processes the group has.</summary>
    public int WorldSize { get; }

    /// <summary>True on rank 0, the rank that prints and saves.</summary>
    public bool IsMain => Rank == 0;

    /// <summary>True when the collectives go through MPI (false for a group of one without mpirun).</summary>
    internal bool UsesMpi { get; }

    private static unsafe ProcessGroup Create()
    {
        if (!IsLaunchedByMpirun)
        {
            return new ProcessGroup(0, 1, usesMpi: false);
        }

        Mpi.Load();
        int initialized;
        Mpi.Check(Mpi.Initialized(&initialized), "MPI_Initialized");
        if (initialized == 0)
        {
            int provided;
            Mpi.Check(Mpi.InitThread(null, null, Mpi.ThreadSerialized, &provided), "MPI_Init_thread");
        }

        int rank, size;
        Mpi.Check(Mpi.CommRank(Mpi.CommWorld, &rank), "MPI_Comm_rank");
        Mpi.Check(Mpi.CommSize(Mpi.CommWorld, &size), "MPI_Comm_size");
        var group = new ProcessGroup(rank, size, usesMpi: true);
        AppDomain.CurrentDomain.UnhandledException += (_, e) => group.Abort(1, $"unhandled exception: {e.ExceptionObject}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => group.FinalizeMpi();
        return group;
    }

    /// <summary>
    /// Prints <paramref name="message"/> (and rank) to standard error, then ends every process of the job
    /// with <paramref name="exitCode"/> (MPI_Abort). Without MPI it exits this process.
    /// </summary>
    public unsafe void Abort(int exitCode, string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Console.Out.Flush();
        Console.Error.WriteLine($"rank {Rank}/{WorldSize}: {message}");
        Console.Error.Flush();
        if (UsesMpi && !_finalized)
        {
            // Not under the lock: the rank may be stuck in a collective holding it.
            Mpi.Abort(Mpi.CommWorld, exitCode);
        }

        Environment.Exit(exitCode);
    }

    private unsafe void FinalizeMpi()
    {
        lock (_mpi)
        {
            int finalized;
            if (_finalized || Mpi.Finalized(&finalized) != Mpi.Success || finalized != 0)
            {
                return;
            }

            _finalized = true;
            Mpi.Finalize();
        }
    }

    /// <summary>Blocks until every rank has called it (MPI_Barrier).</summary>
    public void Barrier()
    {
        if (!UsesMpi)
        {
            return;
        }

        lock (_mpi)
        {
            unsafe
            {
                Mpi.Check(Mpi.Barrier(Mpi.CommWorld), "Barrier");
            }
        }
    }

    /// <summary>Replaces <paramref name="values"/> on every rank with their sum (or average, or maximum) over ranks (MPI_Allreduce, in place).</summary>
    public unsafe void AllReduce<T>(Span<T> values, ReduceOp op = ReduceOp.Sum)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var type = DataType<T>("AllReduce");
        var mpiOp = Operation(op, "AllReduce");
        if (UsesMpi && values.Length > 0)
        {
            lock (_mpi)
            {
                fixed (T* p = values)
                {
                    Mpi.Check(Mpi.Allreduce(Mpi.InPlace, p, values.Length, type, mpiOp, Mpi.CommWorld), "AllReduce");
                }
            }
        }

        if (op == ReduceOp.Average)
        {
            DivideByWorldSize(values);
        }
    }

    /// <summary>All-reduces a contiguous tensor in place (see <see cref="AllReduce{T}(Span{T}, ReduceOp)"/>); it is not recorded.</summary>
    public void AllReduce<T>(Tensor<T> tensor, ReduceOp op = ReduceOp.Sum)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        RequireContiguous(tensor, "AllReduce");
        using var w = tensor.Write();
        AllReduce(w.Elements, op);
    }

    /// <summary>
    /// Starts an all-reduce of <paramref name="values"/> in place and returns at once (MPI_Iallreduce): the
    /// values are the reduction after <see cref="Work.Wait"/>. The memory is pinned until then; do not touch
    /// it in between. Every rank must start its non-blocking collectives in the same order.
    /// </summary>
    public unsafe Work AllReduceAsync<T>(Memory<T> values, ReduceOp op = ReduceOp.Sum)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var type = DataType<T>("AllReduceAsync");
        var mpiOp = Operation(op, "AllReduceAsync");
        Action? finish = op == ReduceOp.Average ? () => DivideByWorldSize(values.Span) : null;
        if (!UsesMpi || values.IsEmpty)
        {
            return new Work(this, 0, default, finish);
        }

        var pin = values.Pin();
        nint request;
        lock (_mpi)
        {
            Mpi.Check(Mpi.Iallreduce(Mpi.InPlace, pin.Pointer, values.Length, type, mpiOp, Mpi.CommWorld, &request), "AllReduceAsync");
        }

        return new Work(this, request, pin, finish);
    }

    /// <summary>Copies rank <paramref name="root"/>'s <paramref name="values"/> into every other rank's (MPI_Bcast).</summary>
    public unsafe void Broadcast<T>(Span<T> values, int root = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var type = DataType<T>("Broadcast");
        CheckRank(root, "Broadcast", nameof(root));
        if (UsesMpi && values.Length > 0)
        {
            lock (_mpi)
            {
                fixed (T* p = values)
                {
                    Mpi.Check(Mpi.Bcast(p, values.Length, type, root, Mpi.CommWorld), "Broadcast");
                }
            }
        }
    }

    /// <summary>Copies rank <paramref name="root"/>'s values of a contiguous tensor into every other rank's, in place.</summary>
    public void Broadcast<T>(Tensor<T> tensor, int root = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        RequireContiguous(tensor, "Broadcast");
        using var w = tensor.Write();
        Broadcast(w.Elements, root);
    }

    /// <summary>
    /// Every rank's <paramref name="values"/>, concatenated in rank order into <paramref name="gathered"/>
    /// (length WorldSize × values.Length) on every rank (MPI_Allgather).
    /// </summary>
    public unsafe void AllGather<T>(ReadOnlySpan<T> values, Span<T> gathered)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var type = DataType<T>("AllGather");
        if (gathered.Length != values.Length * WorldSize)
        {
            throw new ArgumentException($"AllGather: gathered has {gathered.Length} elements but {WorldSize} ranks × {values.Length} values need {values.Length * WorldSize}.", nameof(gathered));
        }

        if (!UsesMpi)
        {
            values.CopyTo(gathered);
            return;
        }

        lock (_mpi)
        {
            fixed (T* s = values)
            fixed (T* r = gathered)
            {
                Mpi.Check(Mpi.Allgather(s, values.Length, type, r, values.Length, type, Mpi.CommWorld), "AllGather");
            }
        }
    }

    /// <summary>Every rank's <paramref name="tensor"/> stacked in rank order: shape [WorldSize, ..tensor's shape]. Every rank passes the same shape.</summary>
    public Tensor<T> AllGather<T>(Tensor<T> tensor)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var values = tensor.ToArray();
        var gathered = new T[values.Length * WorldSize];
        AllGather<T>(values, gathered);
        return Tensor.FromArray(gathered, [WorldSize, .. tensor.ShapeArray]);
    }

    /// <summary>Writes <paramref name="message"/> to standard output on rank 0 only.</summary>
    public void PrintOnRankZero(string message)
    {
        if (IsMain)
        {
            Console.WriteLine(message);
        }
    }

    /// <summary>
    /// Runs <paramref name="save"/> on rank 0 only, then waits until it has finished on every rank (a
    /// barrier), so that any rank may read the file afterwards. Every rank calls it.
    /// </summary>
    public void SaveOnRankZero(Action save)
    {
        ArgumentNullException.ThrowIfNull(save);
        if (IsMain)
        {
            save();
        }

        Barrier();
    }

    /// <summary>Completes a request started by <see cref="AllReduceAsync{T}"/>.</summary>
    internal unsafe void Wait(ref nint request)
    {
        var r = request;
        for (var polls = 0; ; polls++)
        {
            // MPI_Test under the lock rather than one blocking MPI_Wait, so that another thread may still
            // start its collectives; Open MPI progresses every request on each call.
            int done;
            lock (_mpi)
            {
                Mpi.Check(Mpi.Test(&r, &done, null), "Wait");
            }

            if (done != 0)
            {
                request = r;
                return;
            }

            // Spin briefly, then give the core away: ranks often share cores (mpirun --oversubscribe), and a
            // rank that spins delays the very rank it waits for.
            if (polls < 64)
            {
                Thread.SpinWait(20);
            }
            else
            {
                Thread.Yield();
            }
        }
    }

    /// <summary>True when the request is complete (MPI_Test, which also progresses it).</summary>
    internal unsafe bool Test(ref nint request)
    {
        var r = request;
        int done;
        lock (_mpi)
        {
            Mpi.Check(Mpi.Test(&r, &done, null), "Test");
        }

        request = r;
        return done != 0;
    }

    private void DivideByWorldSize<T>(Span<T> values)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (WorldSize > 1)
        {
            TensorPrimitives.Divide(values, T.CreateTruncating(WorldSize), values);
        }
    }

    private static nint DataType<T>(string op)
    {
        if (typeof(T) == typeof(float))
        {
            return Mpi.Float;
        }

        if (typeof(T) == typeof(double))
        {
            return Mpi.Double;
        }

        throw new ArgumentException($"{op}: element type {typeof(T).Name} is not supported; use float or double.");
    }

    private static nint Operation(ReduceOp op, string name) => op switch
    {
        ReduceOp.Sum or ReduceOp.Average => Mpi.OpSum,
        ReduceOp.Max => Mpi.OpMax,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, $"{name}: unknown reduce op {op}."),
    };

    private void CheckRank(int rank, string op, string argument)
    {
        if ((uint)rank >= (uint)WorldSize)
        {
            throw new ArgumentOutOfRangeException(argument, rank, $"{op}: {argument} must be a rank in 0 … {WorldSize - 1}, got {rank}.");
        }
    }

    private static void RequireContiguous<T>(Tensor<T> tensor, string op)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!tensor.IsContiguous)
        {
            throw new ArgumentException($"{op}: the tensor (shape {Autograd.ShapeMath.Format(tensor.ShapeArray)}) is not contiguous; pass tensor.Contiguous() and use the result.", nameof(tensor));
        }
    }
}

/// <summary>
/// A collective started by <see cref="ProcessGroup.AllReduceAsync{T}"/> (PyTorch's <c>Work</c> of
/// <c>async_op=True</c>): <see cref="Wait"/> blocks until its result is in the buffer.
/// </summary>
public sealed class Work
{
    private readonly ProcessGroup _group;
    private readonly Action? _finish;
    private nint _request;
    private MemoryHandle _pin;
    private bool _completed;

    internal Work(ProcessGroup group, nint request, MemoryHandle pin, Action? finish)
    {
        _group = group;
        _request = request;
        _pin = pin;
        _finish = finish;
        _completed = request == 0;
        if (_completed)
        {
            _finish?.Invoke();
        }
    }

    /// <summary>True once the collective has completed (progresses it without blocking).</summary>
    public bool IsCompleted
    {
        get
        {
            if (!_completed && _group.Test(ref _request))
            {
                Complete();
            }

            return _completed;
        }
    }

    /// <summary>Blocks until the collective has completed; a second call returns at once.</summary>
    public void Wait()
    {
        if (_completed)
        {
            return;
        }

        _group.Wait(ref _request);
        Complete();
    }

    private void Complete()
    {
        _completed = true;
        _pin.Dispose();
        _finish?.Invoke();
    }
}
