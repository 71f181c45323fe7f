namespace Autograd;

/// <summary>
/// Sizes of one convolution; K = Cg·KH·KW is the contraction length, P = OH·OW the output plane. OH and
/// OW may be fewer than the windows that fit in the padded input (a transposed convolution with output
/// padding describes its output that way); the extra windows are then left out.
/// </summary>
internal readonly record struct ConvGeometry(
    int N, int C, int H, int W, int F, int Groups, int KH, int KW,
    Size2 Stride, Size2 Dilation, int PadTop, int PadBottom, int PadLeft, int PadRight, int OH, int OW)
{
    public int Cg => C / Groups;

    public int Fg => F / Groups;

    public int K => Cg * KH * KW;

    public int P => OH * OW;

    public bool IsPadded => PadTop != 0 || PadBottom != 0 || PadLeft != 0 || PadRight != 0;

    /// <summary>Multiply-adds of one GEMM pass over the whole batch.</summary>
    public long Work => (long)N * F * K * P;
}
