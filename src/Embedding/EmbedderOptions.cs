namespace Indexer.Embedding;

/// <summary>
/// How an <see cref="OnnxEmbedder"/> uses the hardware. GPU is only a preference: when CUDA cannot be
/// loaded the embedder silently runs on CPU, so one configuration works on GPU hosts and on CI.
/// </summary>
/// <param name="PreferGpu">Try the CUDA execution provider first.</param>
/// <param name="GpuDeviceId">CUDA device ordinal.</param>
/// <param name="IntraOpThreads">Threads used inside one operator; 0 lets ONNX Runtime choose (one per physical core).</param>
/// <param name="InterOpThreads">Threads used across operators; 1 because execution is sequential.</param>
/// <param name="AllowSpinning">
/// Let ONNX Runtime's worker threads busy-wait between operators. Faster for a process that does nothing else; in a silo
/// the spinning threads take the cores that decoding, storage I/O and Orleans itself need, so hosts turn it off.
/// </param>
public sealed record EmbedderOptions(bool PreferGpu = true, int GpuDeviceId = 0, int IntraOpThreads = 0, int InterOpThreads = 1, bool AllowSpinning = true)
{
    /// <summary>GPU if available, otherwise CPU with ONNX Runtime's default thread count.</summary>
    public static EmbedderOptions Default { get; } = new();
}
