using System.Diagnostics;
using System.Runtime;

namespace Autograd;

/// <summary>What <see cref="Tensor.Warmup"/> did: the calls it made, how long they took, the methods the JIT compiled meanwhile, and whether it settled.</summary>
/// <param name="Calls">Times the step ran.</param>
/// <param name="Elapsed">Wall time of the warm-up.</param>
/// <param name="MethodsCompiled">Methods the runtime compiled while it ran (every thread, every tier).</param>
/// <param name="Settled">True when the JIT went quiet; false when the time limit ended it first.</param>
public readonly record struct WarmupResult(int Calls, TimeSpan Elapsed, long MethodsCompiled, bool Settled);

public static partial class Tensor
{
    /// <summary>Calls of the step with no method compiled that <see cref="Warmup"/> waits for.</summary>
    public const int WarmupQuietCalls = 40;

    /// <summary>Wall time with no method compiled that <see cref="Warmup"/> waits for.</summary>
    public static readonly TimeSpan WarmupQuietTime = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Runs <paramref name="step"/> (one training or inference step of the caller's model) until the .NET JIT has
    /// settled on it: until neither the last <see cref="WarmupQuietCalls"/> calls nor the last
    /// <see cref="WarmupQuietTime"/> compiled any method, or <paramref name="timeLimit"/> (default 30 s) has
    /// passed. Under the default runtime an op's code starts unoptimised and is recompiled optimised, on a
    /// background thread, only after it has been called a while: short runs time the JIT rather than the
    /// engine (a 2-thread LeNet step runs 2-3 times slower for its first second, the compiler taking the second
    /// core), and a fixed count of warm-up steps ends too early or too late depending on the model. Call it once
    /// before timing or serving; it needs no runtime setting. The step must be repeatable: warm up on a scratch
    /// copy of the model or on inputs whose updates do not matter. The count is the whole process's: while other
    /// threads keep compiling new code the JIT never goes quiet, and the time limit ends the warm-up with
    /// <see cref="WarmupResult.Settled"/> false.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="step"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeLimit"/> is not positive.</exception>
    public static WarmupResult Warmup(Action step, TimeSpan? timeLimit = null) =>
        WarmupCore(step, timeLimit, static () => JitInfo.GetCompiledMethodCount(currentThread: false), Stopwatch.GetElapsedTime);

    /// <summary><see cref="Warmup(Action, TimeSpan?)"/> with the JIT's method count and the clock given (tests).</summary>
    internal static WarmupResult WarmupCore(Action step, TimeSpan? timeLimit, Func<long> compiledMethods, Func<long, TimeSpan> elapsedSince)
    {
        if (step is null)
        {
            throw new ArgumentNullException(nameof(step), "Warmup: step is null; pass the step to repeat, e.g. () => model.Step(x, y).");
        }

        var limit = timeLimit ?? TimeSpan.FromSeconds(30);
        if (limit <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(timeLimit), limit, $"Warmup: timeLimit must be positive, got {limit}.");
        }

        var start = Stopwatch.GetTimestamp();
        var first = compiledMethods();
        var last = first;
        var calls = 0;
        var quietCalls = 0;
        var quietSince = TimeSpan.Zero;
        while (true)
        {
            step();
            calls++;
            var now = elapsedSince(start);
            var count = compiledMethods();
            if (count != last)
            {
                (last, quietCalls, quietSince) = (count, 0, now);
            }
            else
            {
                quietCalls++;
            }

            var settled = quietCalls >= WarmupQuietCalls && now - quietSince >= WarmupQuietTime;
            if (settled || now >= limit)
            {
                return new WarmupResult(calls, now, last - first, settled);
            }
        }
    }
}
