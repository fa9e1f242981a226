namespace Indexer.Training;

/// <summary>
/// The layers of an embedding head: Linear (+ReLU) … Linear, with ReLU between layers and none after the last.
/// </summary>
/// <param name="Widths">The output width of each layer in order; the last is the embedding dimension.</param>
/// <param name="Bias">Whether every layer has a bias.</param>
public sealed record HeadArchitecture(IReadOnlyList<int> Widths, bool Bias = true)
{
    /// <summary>One linear layer to <paramref name="dimension"/>.</summary>
    public static HeadArchitecture Linear(int dimension) => new([dimension]);

    /// <summary>A one-hidden-layer perceptron: Linear to <paramref name="hidden"/>, ReLU, Linear to <paramref name="dimension"/>.</summary>
    public static HeadArchitecture Mlp(int hidden, int dimension) => new([hidden, dimension]);

    /// <summary>The embedding dimension.</summary>
    public int OutputDimension => Widths[^1];

    /// <summary>E.g. "512x128+b" or "512x512+b relu -> 512x128+b".</summary>
    public string Describe(int inputDimension)
    {
        var parts = new List<string>();
        var d = inputDimension;
        for (var i = 0; i < Widths.Count; i++)
        {
            parts.Add($"{d}x{Widths[i]}{(Bias ? "+b" : string.Empty)}{(i < Widths.Count - 1 ? " relu" : string.Empty)}");
            d = Widths[i];
        }

        return string.Join(" -> ", parts);
    }
}

/// <summary>A trainable head: the layers of a <see cref="HeadArchitecture"/> followed by L2 normalisation.</summary>
public sealed class HeadNetwork
{
    private readonly LinearLayer[] _layers;
    private float[] _u = [];
    private float[] _norms = [];
    private int _rows;

    /// <summary>A freshly initialised head for inputs of <paramref name="inputDimension"/>.</summary>
    public HeadNetwork(int inputDimension, HeadArchitecture architecture, Random random)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        ArgumentNullException.ThrowIfNull(random);
        if (architecture.Widths.Count == 0) throw new ArgumentException("a head needs at least one layer", nameof(architecture));
        InputDimension = inputDimension;
        Architecture = architecture;
        _layers = new LinearLayer[architecture.Widths.Count];
        var d = inputDimension;
        for (var i = 0; i < _layers.Length; i++)
        {
            _layers[i] = new LinearLayer(d, architecture.Widths[i], relu: i < _layers.Length - 1, architecture.Bias, random, $"layer{i + 1}");
            d = architecture.Widths[i];
        }
    }

    /// <summary>Input width.</summary>
    public int InputDimension { get; }

    /// <summary>Embedding dimension.</summary>
    public int OutputDimension => _layers[^1].OutputDimension;

    /// <summary>The architecture it was built from.</summary>
    public HeadArchitecture Architecture { get; }

    /// <summary>The layers in order.</summary>
    public IReadOnlyList<LinearLayer> Layers => _layers;

    /// <summary>Every trainable parameter.</summary>
    public IEnumerable<Parameter> Parameters => _layers.SelectMany(l => l.Parameters);

    /// <summary>Unit embeddings (n x OutputDimension, a new array) of the rows of <paramref name="x"/>; keeps what <see cref="Backward"/> needs.</summary>
    public float[] Forward(float[] x, int n)
    {
        ArgumentNullException.ThrowIfNull(x);
        var h = x;
        foreach (var layer in _layers) h = layer.Forward(h, n);
        _u = new float[n * OutputDimension];
        _norms = L2Normalization.Forward(h.AsSpan(0, n * OutputDimension), _u, n, OutputDimension);
        _rows = n;
        return _u;
    }

    /// <summary>Back-propagates ∂loss/∂u of the last <see cref="Forward"/> into the layers' parameter gradients.</summary>
    public void Backward(float[] du)
    {
        ArgumentNullException.ThrowIfNull(du);
        var g = L2Normalization.Backward(_u, _norms, du, _rows, OutputDimension);
        for (var i = _layers.Length - 1; i >= 0; i--) g = _layers[i].Backward(g);
    }

    /// <summary>Unit embeddings of many rows, in chunks, without touching the training state of the caller's batch.</summary>
    public float[] Embed(float[] x, int n, int chunk = 1024)
    {
        ArgumentNullException.ThrowIfNull(x);
        var result = new float[n * OutputDimension];
        for (var start = 0; start < n; start += chunk)
        {
            var count = Math.Min(chunk, n - start);
            var u = Forward(x.AsSpan(start * InputDimension, count * InputDimension).ToArray(), count);
            u.CopyTo(result, start * OutputDimension);
        }

        return result;
    }
}
