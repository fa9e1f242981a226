using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Indexer.Grains.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Indexer.Grains.Embedding;

using Indexer.Embedding;

/// <summary>
/// One loaded model version on this silo: one or more ONNX Runtime sessions fed by a bounded queue of images. Each
/// session has a dedicated thread that drains the shared queue in micro-batches (a batch runs when it is full or when
/// <see cref="EmbeddingOptions.BatchDeadlineMilliseconds"/> has passed since its first image), so inference never runs on
/// the thread pool that the Orleans scheduler shares. On the CPU several single-threaded sessions (batch parallelism)
/// beat one session using every core (operator parallelism): a session's threads meet at a barrier after every
/// operator, so any other work that preempts one of them stalls them all, while a preempted single-threaded session
/// delays only itself (<see cref="EmbeddingOptions.Sessions"/>).
/// Where images are decoded depends on the execution provider. On the GPU, decoding runs on the pool in parallel with
/// inference (at most one image per core), so the GPU never waits for the CPU. On the CPU, the cores are the inference
/// engine: ONNX Runtime's threads meet at a barrier after every operator, so a decode that preempts one of them stalls
/// all of them. There, the inference thread decodes each batch itself, right before running it.
/// </summary>
public sealed partial class ModelRunner : IDisposable
{
    private readonly IReadOnlyList<OnnxEmbedder> _embedders;
    private readonly OnnxEmbedder _embedder;
    private readonly Channel<Request> _queue;

    /// <summary>
    /// Interactive requests (search queries): taken before anything in <see cref="_queue"/>, so a query waits for at most
    /// the batch being inferred, however deep a backfill or a bulk upload has filled the queue.
    /// </summary>
    private readonly Channel<Request> _interactive;
    private readonly SemaphoreSlim _decodeSlots;
    private readonly EmbeddingOptions _options;
    private readonly IndexerTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly Thread[] _threads;
    private readonly long[] _imagesBySession;

    /// <summary>Inference threads not yet returned; the last one out releases the sessions once disposal was asked.</summary>
    private int _runningThreads;
    private int _disposeRequested;
    private int _released;
    private readonly int _bulkSliceSize;
    private readonly long _interactiveHoldTicks;
    private long _lastInteractiveTimestamp = long.MinValue / 2;
    private readonly int _tensorLength;
    private readonly bool _decodeOnInferenceThread;
    private readonly KeyValuePair<string, object?> _versionTag;

    public ModelRunner(OnnxEmbedder embedder, EmbeddingOptions options, IndexerTelemetry telemetry, ILogger logger)
        : this([embedder], options, telemetry, logger)
    {
    }

    /// <summary>Runs <paramref name="embedders"/> (sessions of one model version, the first one's manifest) side by side over one queue.</summary>
    /// <param name="embedders">The sessions; the runner owns and disposes them.</param>
    /// <param name="options">Batching, slicing and queue settings.</param>
    /// <param name="telemetry">Where inference is counted and timed.</param>
    /// <param name="logger">Where failed inference calls are logged.</param>
    /// <param name="intraOpThreads">Threads each session uses (0: several, the provider's choice); sets the default slice size.</param>
    public ModelRunner(IReadOnlyList<OnnxEmbedder> embedders, EmbeddingOptions options, IndexerTelemetry telemetry, ILogger logger, int intraOpThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(embedders);
        if (embedders.Count == 0) throw new ArgumentException("a runner needs at least one session", nameof(embedders));
        var embedder = embedders[0];
        if (embedders.Any(e => e.Manifest.Version != embedder.Manifest.Version || e.Dimension != embedder.Dimension))
        {
            throw new ArgumentException("every session of a runner must run the same model version", nameof(embedders));
        }

        _embedders = embedders;
        _embedder = embedder;
        _bulkSliceSize = options.EffectiveBulkSliceSize(intraOpThreads);
        _interactiveHoldTicks = (long)(options.InteractiveHoldMilliseconds * (Stopwatch.Frequency / 1000.0));
        _options = options;
        _telemetry = telemetry;
        _logger = logger;
        _tensorLength = ImageDecoder.TensorLength(embedder.Manifest);
        _decodeOnInferenceThread = embedder.ExecutionProvider == "CPU";
        _versionTag = new("model.version", embedder.Manifest.Version);
        var singleReader = embedders.Count == 1;
        _queue = Channel.CreateBounded<Request>(new BoundedChannelOptions(options.QueueCapacity) { SingleReader = singleReader });
        _interactive = Channel.CreateBounded<Request>(new BoundedChannelOptions(options.QueueCapacity) { SingleReader = singleReader });
        _decodeSlots = new SemaphoreSlim(options.MaxConcurrentDecodes > 0 ? options.MaxConcurrentDecodes : Environment.ProcessorCount);
        _imagesBySession = new long[embedders.Count];
        _runningThreads = embedders.Count;
        _threads = [.. embedders.Select((session, i) =>
            new Thread(() => RunInferenceLoop(session, i)) { IsBackground = true, Name = $"inference {embedder.Manifest.Version} #{i}" })];
        foreach (var thread in _threads) thread.Start();
        telemetry.ModelLoaded(embedder.Manifest.Version, embedder.ExecutionProvider);
    }

    public ModelManifest Manifest => _embedder.Manifest;

    public string ExecutionProvider => _embedder.ExecutionProvider;

    /// <summary>Sessions running side by side.</summary>
    public int Sessions => _embedders.Count;

    /// <summary>Images each session has embedded so far (diagnostics: how the shared queue spreads the work).</summary>
    public IReadOnlyList<long> ImagesBySession => [.. Enumerable.Range(0, _imagesBySession.Length).Select(i => Interlocked.Read(ref _imagesBySession[i]))];

    /// <summary>
    /// Decodes, preprocesses and embeds one image. Throws <see cref="InvalidImageException"/> for a bad image.
    /// <paramref name="interactive"/> requests (someone is waiting: a search query) go ahead of bulk work.
    /// </summary>
    public async Task<float[]> EmbedAsync(ReadOnlyMemory<byte> image, CancellationToken cancellationToken, bool interactive = false)
    {
        var result = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queue = interactive ? _interactive : _queue;
        if (interactive) Volatile.Write(ref _lastInteractiveTimestamp, Stopwatch.GetTimestamp());
        if (_decodeOnInferenceThread)
        {
            await EnqueueAsync(queue, new Request(null, image, result), cancellationToken);
            return await result.Task;
        }

        var tensor = ArrayPool<float>.Shared.Rent(_tensorLength);
        var handedOff = false;
        try
        {
            await _decodeSlots.WaitAsync(cancellationToken);
            try
            {
                await Task.Run(() => ImageDecoder.Preprocess(image.Span, Manifest, ImageLimits.Default, tensor.AsSpan(0, _tensorLength)), cancellationToken);
            }
            finally
            {
                _decodeSlots.Release();
            }

            await EnqueueAsync(queue, new Request(tensor, default, result), cancellationToken);
            handedOff = true;
            return await result.Task;
        }
        finally
        {
            if (!handedOff) ArrayPool<float>.Shared.Return(tensor);
        }
    }

    private async Task EnqueueAsync(Channel<Request> queue, Request request, CancellationToken cancellationToken)
    {
        await queue.Writer.WriteAsync(request, cancellationToken);
        _telemetry.EmbeddingQueueDepth.Add(1, _versionTag);
    }

    /// <summary>Embeds the embedder's probe image: proves the artifact runs and yields a finite vector of the declared size.</summary>
    public float[] Probe() => _embedder.EmbedProbe();

    private void RunInferenceLoop(OnnxEmbedder session, int index)
    {
        try
        {
            Infer(session, index);
        }
        finally
        {
            if (Interlocked.Decrement(ref _runningThreads) == 0 && Volatile.Read(ref _disposeRequested) == 1) ReleaseSessions();
        }
    }

    private void Infer(OnnxEmbedder session, int index)
    {
        var maxBatch = Math.Min(_options.MaxBatchSize, session.MaxBatch);
        var batch = new List<Request>(maxBatch);
        var buffers = new Buffers(maxBatch * _tensorLength, maxBatch * session.Dimension);
        var urgentBatch = new List<Request>(maxBatch);
        var urgentBuffers = new Buffers(maxBatch * _tensorLength, maxBatch * session.Dimension);
        var (urgent, bulk) = (_interactive.Reader, _queue.Reader);
        while (Wait(urgent, bulk, Timeout.InfiniteTimeSpan))
        {
            batch.Clear();
            var deadline = Stopwatch.GetTimestamp() + (long)(_options.BatchDeadlineMilliseconds * (Stopwatch.Frequency / 1000.0));
            while (batch.Count < maxBatch)
            {
                if (urgent.TryRead(out var request) || bulk.TryRead(out request))
                {
                    batch.Add(request);
                    continue;
                }

                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (remaining <= TimeSpan.Zero || !Wait(urgent, bulk, remaining)) break;
            }

            if (batch.Count == 0) continue;
            // A query that arrives while a bulk batch runs waits for one slice, not the whole batch: between slices,
            // whatever the interactive lane holds runs first.
            Interlocked.Add(ref _imagesBySession[index], batch.Count);
            RunBatch(session, batch, buffers, _decodeOnInferenceThread ? BulkSliceSize : () => maxBatch, beforeSlice: () =>
            {
                urgentBatch.Clear();
                while (urgentBatch.Count < maxBatch && urgent.TryRead(out var waiting)) urgentBatch.Add(waiting);
                if (urgentBatch.Count == 0) return;
                Interlocked.Add(ref _imagesBySession[index], urgentBatch.Count);
                RunBatch(session, urgentBatch, urgentBuffers, () => maxBatch, beforeSlice: null);
            });
        }
    }

    /// <summary>
    /// The images of the next bulk inference call on the CPU: one while queries have arrived within
    /// <see cref="EmbeddingOptions.InteractiveHoldMilliseconds"/> (the next query then waits for one image's inference),
    /// else <see cref="EmbeddingOptions.BulkSliceSize"/>.
    /// </summary>
    private int BulkSliceSize() =>
        Stopwatch.GetTimestamp() - Volatile.Read(ref _lastInteractiveTimestamp) < _interactiveHoldTicks ? 1 : _bulkSliceSize;

    /// <summary>Waits until either queue has a request; false when the timeout passes or both queues are completed.</summary>
    private static bool Wait(ChannelReader<Request> urgent, ChannelReader<Request> bulk, TimeSpan timeout)
    {
        using var cts = timeout == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(timeout);
        try
        {
            var either = Task.WhenAny(urgent.WaitToReadAsync(cts.Token).AsTask(), bulk.WaitToReadAsync(cts.Token).AsTask()).GetAwaiter().GetResult();
            if (either.GetAwaiter().GetResult()) return true;
            // One queue is completed (the runner is being disposed): drain the other before stopping.
            return (urgent.Completion.IsCompleted ? bulk : urgent).WaitToReadAsync(cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        finally
        {
            cts.Cancel(); // releases the wait still pending on the other queue
        }
    }

    /// <summary>
    /// Runs <paramref name="batch"/> as inference calls of <paramref name="sliceSize"/> images (asked before each call), with
    /// <paramref name="beforeSlice"/> between two calls. Each call's images are decoded right before it, so work that
    /// <paramref name="beforeSlice"/> lets in waits for one call's decoding, not the whole batch's.
    /// </summary>
    private void RunBatch(OnnxEmbedder session, List<Request> batch, Buffers buffers, Func<int> sliceSize, Action? beforeSlice)
    {
        _telemetry.EmbeddingQueueDepth.Add(-batch.Count, _versionTag);
        var rows = new List<Request>(batch.Count);
        var next = 0;
        while (next < batch.Count)
        {
            if (next > 0) beforeSlice?.Invoke();
            rows.Clear();
            next = FillSlice(batch, next, sliceSize(), buffers.Input, rows);
            if (rows.Count > 0) RunSlice(session, rows, 0, rows.Count, buffers);
        }
    }

    /// <summary>
    /// Puts the tensors of up to <paramref name="size"/> requests of <paramref name="batch"/>, from <paramref name="next"/> on,
    /// at the start of <paramref name="input"/> and adds them to <paramref name="rows"/>; an image that fails to decode fails
    /// alone and leaves no gap. Returns the index of the first request not taken.
    /// </summary>
    private int FillSlice(List<Request> batch, int next, int size, float[] input, List<Request> rows)
    {
        for (; next < batch.Count && rows.Count < size; next++)
        {
            var request = batch[next];
            var slot = input.AsSpan(rows.Count * _tensorLength, _tensorLength);
            if (request.Tensor is { } tensor)
            {
                tensor.AsSpan(0, _tensorLength).CopyTo(slot);
                ArrayPool<float>.Shared.Return(tensor);
            }
            else
            {
                try
                {
                    ImageDecoder.Preprocess(request.Image.Span, Manifest, ImageLimits.Default, slot);
                }
                catch (InvalidImageException ex)
                {
                    request.Result.TrySetException(ex);
                    continue;
                }
            }

            rows.Add(request);
        }

        return next;
    }

    /// <summary>One inference call over rows [start, start + n) of the batch, whose tensors are in <paramref name="buffers"/>.</summary>
    private void RunSlice(OnnxEmbedder session, List<Request> rows, int start, int n, Buffers buffers)
    {
        var dimension = session.Dimension;
        var started = Stopwatch.GetTimestamp();
        try
        {
            session.Embed(buffers.Input.AsSpan(start * _tensorLength, n * _tensorLength), n, buffers.Output.AsSpan(0, n * dimension));
        }
        catch (Exception ex)
        {
            LogInferenceFailed(ex, Manifest.Version, n);
            for (var i = start; i < start + n; i++) rows[i].Result.TrySetException(ex);
            _telemetry.ImagesEmbedded.Add(n, _versionTag, new("outcome", "error"));
            return;
        }

        _telemetry.InferenceDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _versionTag);
        _telemetry.EmbeddingBatchSize.Record(n, _versionTag);
        _telemetry.ImagesEmbedded.Add(n, _versionTag, new("outcome", "ok"));
        for (var i = 0; i < n; i++)
        {
            rows[start + i].Result.TrySetResult(buffers.Output.AsSpan(i * dimension, dimension).ToArray());
        }
    }

    /// <summary>How long <see cref="Dispose"/> waits for the inference threads to drain the queues before it returns.</summary>
    internal TimeSpan DrainWait { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>True once the sessions and the decode semaphore are disposed.</summary>
    internal bool SessionsReleased => Volatile.Read(ref _released) == 1;

    /// <summary>
    /// Stops taking requests and lets the inference threads drain what is queued. A session is native memory that an
    /// inference call reads: disposed under a thread still running, it crashes the process (a silo stopped in the middle
    /// of a backfill, with a full queue, did). So the sessions are released only once every thread has returned: here if
    /// they all return within <see cref="DrainWait"/>, else by the last thread out.
    /// </summary>
    public void Dispose()
    {
        Volatile.Write(ref _disposeRequested, 1);
        _queue.Writer.TryComplete();
        _interactive.Writer.TryComplete();
        var deadline = Stopwatch.GetTimestamp() + (long)(DrainWait.TotalSeconds * Stopwatch.Frequency);
        var running = _threads.Count(thread => !thread.Join(TimeSpan.FromTicks(Math.Max(0, Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline).Ticks))));
        _telemetry.ModelUnloaded(Manifest.Version);
        if (running > 0)
        {
            LogStillDraining(Manifest.Version, running);
            return;
        }

        ReleaseSessions();
    }

    /// <summary>Disposes the sessions and the decode semaphore, once, whichever of <see cref="Dispose"/> and the last thread gets here first.</summary>
    private void ReleaseSessions()
    {
        if (Interlocked.Exchange(ref _released, 1) == 1) return;
        foreach (var session in _embedders) session.Dispose();
        _decodeSlots.Dispose();
    }

    /// <summary>One batch's input tensors and output vectors, reused from batch to batch.</summary>
    private sealed record Buffers(float[] Input, float[] Output)
    {
        public Buffers(int inputLength, int outputLength)
            : this(new float[inputLength], new float[outputLength])
        {
        }
    }

    /// <summary>An image to embed: preprocessed already (<see cref="Tensor"/>) or still encoded (<see cref="Image"/>).</summary>
    private sealed record Request(float[]? Tensor, ReadOnlyMemory<byte> Image, TaskCompletionSource<float[]> Result);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model {Version} unloaded while {Threads} inference thread(s) still drain its queue; its sessions are released when the last of them finishes")]
    private partial void LogStillDraining(string version, int threads);

    [LoggerMessage(Level = LogLevel.Error, Message = "Inference with model {Version} failed for a batch of {Count}")]
    private partial void LogInferenceFailed(Exception ex, string version, int count);
}
