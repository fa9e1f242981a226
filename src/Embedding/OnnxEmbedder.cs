using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Indexer.Embedding;

/// <summary>
/// Runs an image embedding model with ONNX Runtime. The constructor checks the graph against the
/// manifest so that a wrong registration fails at load time instead of producing garbage vectors.
/// Instances are thread-safe; create one per model version and share it.
/// </summary>
public sealed class OnnxEmbedder : IDisposable
{
    /// <summary>Why CUDA could not be loaded in this process; once it failed, later embedders skip the attempt.</summary>
    private static volatile string? _cudaUnavailable;

    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly long[] _outputRowShape;
    private readonly int _tensorLength;
    private int _disposed;

    /// <summary>Loads the model and verifies that its input and output match <paramref name="manifest"/>.</summary>
    /// <exception cref="InvalidModelException">The bytes are not a loadable ONNX model or the shapes disagree with the manifest.</exception>
    public OnnxEmbedder(byte[] onnxModel, ModelManifest manifest, EmbedderOptions options)
    {
        ArgumentNullException.ThrowIfNull(onnxModel);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(options);
        manifest.Validate();
        if (onnxModel.Length == 0)
        {
            throw new InvalidModelException("model is empty (0 bytes)");
        }

        Manifest = manifest;
        _tensorLength = manifest.TensorLength;
        _inputNames = [manifest.InputName];
        _outputNames = [manifest.OutputName];
        (_session, ExecutionProvider, GpuFallbackReason) = CreateSession(onnxModel, options);
        try
        {
            (_outputRowShape, MaxBatch) = CheckSignature(_session, manifest);
            _runOptions = new RunOptions();
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    /// <summary>"CUDA" or "CPU": where inference actually runs.</summary>
    public string ExecutionProvider { get; }

    /// <summary>Why the GPU was not used although it was preferred; null when running on CUDA or when CPU was requested.</summary>
    public string? GpuFallbackReason { get; }

    /// <summary>The manifest the model was validated against.</summary>
    public ModelManifest Manifest { get; }

    /// <summary>Floats per embedding.</summary>
    public int Dimension => Manifest.OutputDimension;

    /// <summary>Floats per input image (3 × width × height).</summary>
    public int TensorLength => _tensorLength;

    /// <summary>Largest batch one inference call accepts: 1 for fixed-batch models, otherwise unlimited.</summary>
    public int MaxBatch { get; }

    /// <summary>
    /// Embeds <paramref name="batchSize"/> preprocessed images (see <see cref="ImageDecoder.Preprocess"/>)
    /// into <paramref name="output"/>, one row of <see cref="Dimension"/> floats per image,
    /// L2-normalised when the manifest says so (all-zero rows stay zero).
    /// </summary>
    /// <exception cref="ArgumentException">Span lengths do not match the batch size.</exception>
    /// <exception cref="InvalidModelException">The model failed to run or produced NaN or infinity.</exception>
    public void Embed(ReadOnlySpan<float> inputs, int batchSize, Span<float> output)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(batchSize);
        if (inputs.Length != (long)batchSize * _tensorLength)
        {
            throw new ArgumentException(
                $"inputs has {inputs.Length} floats; {batchSize} images need {(long)batchSize * _tensorLength}", nameof(inputs));
        }

        if (output.Length != (long)batchSize * Dimension)
        {
            throw new ArgumentException(
                $"output has {output.Length} floats; {batchSize} embeddings need {(long)batchSize * Dimension}", nameof(output));
        }

        for (int start = 0; start < batchSize;)
        {
            int count = Math.Min(MaxBatch, batchSize - start);
            Run(inputs.Slice(start * _tensorLength, count * _tensorLength), count, output.Slice(start * Dimension, count * Dimension));
            start += count;
        }

        PostProcess(output, batchSize);
    }

    /// <summary>
    /// Embeds one synthetic gradient image. Model registration uses it to prove the artifact runs
    /// end to end and yields finite values.
    /// </summary>
    public float[] EmbedProbe()
    {
        var tensor = new float[_tensorLength];
        int width = Manifest.InputWidth;
        int height = Manifest.InputHeight;
        int plane = width * height;
        for (int c = 0; c < 3; c++)
        {
            float mean = Manifest.Mean[c];
            float scale = Manifest.Scale[c];
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    float pixel = c switch
                    {
                        0 => 255f * x / Math.Max(1, width - 1),
                        1 => 255f * y / Math.Max(1, height - 1),
                        _ => 255f * (x + y) / Math.Max(1, width + height - 2),
                    };
                    tensor[(c * plane) + (y * width) + x] = (pixel - mean) * scale;
                }
            }
        }

        var result = new float[Dimension];
        Embed(tensor, 1, result);
        return result;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _session.Dispose();
            _runOptions.Dispose();
        }
    }

    private static (InferenceSession Session, string Provider, string? FallbackReason) CreateSession(byte[] model, EmbedderOptions options)
    {
        string? fallbackReason = null;
        if (options.PreferGpu)
        {
            fallbackReason = _cudaUnavailable;
            if (fallbackReason is null)
            {
                using var gpuOptions = CreateOptions(options);
                bool appended = false;
                try
                {
                    gpuOptions.AppendExecutionProvider_CUDA(options.GpuDeviceId);
                    appended = true;
                    return (new InferenceSession(model, gpuOptions), "CUDA", null);
                }
                catch (Exception ex)
                {
                    // Missing CUDA libraries throw OnnxRuntimeException, a CPU-only native library
                    // EntryPointNotFoundException; either way the CPU provider is the answer.
                    fallbackReason = $"CUDA execution provider unavailable: {ex.Message}";
                    if (!appended)
                    {
                        _cudaUnavailable = fallbackReason;
                    }
                }
            }
        }

        using var cpuOptions = CreateOptions(options);
        try
        {
            return (new InferenceSession(model, cpuOptions), "CPU", fallbackReason);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidModelException($"model could not be loaded by ONNX Runtime: {ex.Message}", ex);
        }
    }

    private static SessionOptions CreateOptions(EmbedderOptions options)
    {
        var so = new SessionOptions
        {
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            InterOpNumThreads = Math.Max(0, options.InterOpThreads),
            IntraOpNumThreads = Math.Max(0, options.IntraOpThreads),
        };
        if (!options.AllowSpinning)
        {
            so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            so.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        }

        return so;
    }

    private static (long[] OutputRowShape, int MaxBatch) CheckSignature(InferenceSession session, ModelManifest manifest)
    {
        if (!session.InputMetadata.TryGetValue(manifest.InputName, out var input))
        {
            throw new InvalidModelException(
                $"model has no input named '{manifest.InputName}' (inputs: {string.Join(", ", session.InputMetadata.Keys)})");
        }

        if (session.InputMetadata.Count != 1)
        {
            throw new InvalidModelException(
                $"model has {session.InputMetadata.Count} inputs ({string.Join(", ", session.InputMetadata.Keys)}); an image embedder must have exactly one");
        }

        var inDims = input.Dimensions;
        if (input.ElementDataType != TensorElementType.Float || inDims.Length != 4 || inDims[1] != 3
            || !Matches(inDims[2], manifest.InputHeight) || !Matches(inDims[3], manifest.InputWidth)
            || !Matches(inDims[0], 1))
        {
            throw new InvalidModelException(
                $"model input '{manifest.InputName}' is {input.ElementDataType} {Describe(inDims)}; the manifest needs float [N,3,{manifest.InputHeight},{manifest.InputWidth}]");
        }

        if (!session.OutputMetadata.TryGetValue(manifest.OutputName, out var output))
        {
            throw new InvalidModelException(
                $"model has no output named '{manifest.OutputName}' (outputs: {string.Join(", ", session.OutputMetadata.Keys)})");
        }

        var outDims = output.Dimensions;
        long elements = 1;
        bool fixedRow = outDims.Length >= 2;
        for (int i = 1; i < outDims.Length; i++)
        {
            fixedRow &= outDims[i] > 0;
            elements *= Math.Max(outDims[i], 0);
        }

        if (output.ElementDataType != TensorElementType.Float || !fixedRow || !Matches(outDims[0], 1) || elements != manifest.OutputDimension)
        {
            throw new InvalidModelException(
                $"model output '{manifest.OutputName}' is {output.ElementDataType} {Describe(outDims)} ({elements} values per image); the manifest says {manifest.OutputDimension}");
        }

        var rowShape = outDims.Select(d => (long)d).ToArray();
        int maxBatch = inDims[0] < 0 && outDims[0] < 0 ? int.MaxValue : 1;
        return (rowShape, maxBatch);

        static bool Matches(int modelDim, int wanted) => modelDim < 0 || modelDim == wanted;
        static string Describe(int[] dims) => "[" + string.Join(",", dims.Select(d => d < 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";
    }

    private unsafe void Run(ReadOnlySpan<float> inputs, int count, Span<float> output)
    {
        long[] inputShape = [count, 3, Manifest.InputHeight, Manifest.InputWidth];
        var outputShape = (long[])_outputRowShape.Clone();
        outputShape[0] = count;
        fixed (float* inPtr = inputs)
        fixed (float* outPtr = output)
        {
            // Both tensors alias the caller's memory: no copies, and ORT writes the result in place.
            using var inValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Float, inputShape, (IntPtr)inPtr, (long)inputs.Length * sizeof(float));
            using var outValue = OrtValue.CreateTensorValueWithData(
                OrtMemoryInfo.DefaultInstance, TensorElementType.Float, outputShape, (IntPtr)outPtr, (long)output.Length * sizeof(float));
            try
            {
                _session.Run(_runOptions, _inputNames, [inValue], _outputNames, [outValue]);
            }
            catch (OnnxRuntimeException ex)
            {
                throw new InvalidModelException($"model '{Manifest.Version}' failed to run: {ex.Message}", ex);
            }
        }
    }

    private void PostProcess(Span<float> output, int batchSize)
    {
        int dim = Dimension;
        for (int r = 0; r < batchSize; r++)
        {
            var row = output.Slice(r * dim, dim);
            double sumOfSquares = 0;
            foreach (var v in row)
            {
                if (!float.IsFinite(v))
                {
                    throw new InvalidModelException(
                        $"model '{Manifest.Version}' produced a non-finite value ({v}) in embedding {r} of the batch");
                }

                sumOfSquares += (double)v * v;
            }

            if (Manifest.L2Normalize && sumOfSquares > 0)
            {
                TensorPrimitives.Multiply(row, (float)(1.0 / Math.Sqrt(sumOfSquares)), row);
            }
        }
    }
}
