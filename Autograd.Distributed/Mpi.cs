using System.Runtime.InteropServices;

namespace Autograd.Distributed;

/// <summary>
/// The few entry points of Open MPI's C library (libmpi.so.40) this project calls, bound at run time: the
/// MPI.NET package targets Microsoft MPI on Windows only. Open MPI's handles (MPI_Comm, MPI_Datatype,
/// MPI_Op) are pointers to exported globals (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_float</c>,
/// <c>ompi_mpi_op_sum</c>), so they are the addresses of those symbols. The library is opened with
/// RTLD_GLOBAL: Open MPI's plugins resolve its symbols from the global namespace.
/// </summary>
internal static unsafe class Mpi
{
    public const int ThreadSerialized = 2;     // MPI_THREAD_SERIALIZED in Open MPI's mpi.h
    public const int Success = 0;

    /// <summary>MPI_IN_PLACE: Open MPI defines it as (void *) 1.</summary>
    public static readonly void* InPlace = (void*)1;

    private const int RtldNow = 2;
    private const int RtldGlobal = 0x100;

    [DllImport("libc.so.6", EntryPoint = "dlopen")]
    private static extern nint DlOpen(string file, int mode);

    [DllImport("libc.so.6", EntryPoint = "dlerror")]
    private static extern nint DlError();

    public static nint CommWorld;
    public static nint Float;
    public static nint Double;
    public static nint Int;
    public static nint OpSum;
    public static nint OpMax;

    public static delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public static delegate* unmanaged<int*, int> Initialized;
    public static delegate* unmanaged<int*, int> Finalized;
    public static delegate* unmanaged<int> Finalize;
    public static delegate* unmanaged<nint, int*, int> CommRank;
    public static delegate* unmanaged<nint, int*, int> CommSize;
    public static delegate* unmanaged<void*, void*, int, nint, nint, nint, int> Allreduce;
    public static delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int> Iallreduce;
    public static delegate* unmanaged<nint*, void*, int> Wait;
    public static delegate* unmanaged<nint*, int*, void*, int> Test;
    public static delegate* unmanaged<void*, int, nint, int, nint, int> Bcast;
    public static delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> Allgather;
    public static delegate* unmanaged<nint, int> Barrier;
    public static delegate* unmanaged<nint, int, int> Abort;

    /// <summary>Opens libmpi and resolves every symbol; throws with the loader's message when it cannot.</summary>
    public static void Load()
    {
        nint lib = 0;
        string? error = null;
        foreach (var name in new[] { "libmpi.so.40", "libmpi.so" })
        {
            lib = DlOpen(name, RtldNow | RtldGlobal);
            if (lib != 0)
            {
                break;
            }

            error = DlError() is var e and not 0 ? Marshal.PtrToStringUTF8(e) : null;
        }

        if (lib == 0)
        {
            throw new DllNotFoundException(
                $"ProcessGroup: started by mpirun (OMPI_COMM_WORLD_SIZE is set) but Open MPI's libmpi.so.40 could not be loaded ({error}); install it with 'apt-get install openmpi-bin libopenmpi-dev'.");
        }

        nint Get(string symbol) => NativeLibrary.GetExport(lib, symbol);
        CommWorld = Get("ompi_mpi_comm_world");
        Float = Get("ompi_mpi_float");
        Double = Get("ompi_mpi_double");
        Int = Get("ompi_mpi_int");
        OpSum = Get("ompi_mpi_op_sum");
        OpMax = Get("ompi_mpi_op_max");
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Get("MPI_Init_thread");
        Initialized = (delegate* unmanaged<int*, int>)Get("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Get("MPI_Finalized");
        Finalize = (delegate* unmanaged<int>)Get("MPI_Finalize");
        CommRank = (delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_size");
        Allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Get("MPI_Allreduce");
        Iallreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, nint*, int>)Get("MPI_Iallreduce");
        Wait = (delegate* unmanaged<nint*, void*, int>)Get("MPI_Wait");
        Test = (delegate* unmanaged<nint*, int*, void*, int>)Get("MPI_Test");
        Bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)Get("MPI_Bcast");
        Allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)Get("MPI_Allgather");
        Barrier = (delegate* unmanaged<nint, int>)Get("MPI_Barrier");
        Abort = (delegate* unmanaged<nint, int, int>)Get("MPI_Abort");
    }

    /// <summary>Throws for an MPI error code (Open MPI's default handler aborts first, so this is a backstop).</summary>
    public static void Check(int code, string op)
    {
        if (code != Success)
        {
            throw new InvalidOperationException($"{op}: MPI returned error code {code}.");
        }
    }
}
