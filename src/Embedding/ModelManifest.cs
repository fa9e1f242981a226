using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Indexer.Embedding;

/// <summary>
/// Describes one registered model version: how to feed it (input name, size, channel order,
/// normalisation) and how to read it (output name, dimension, L2). It is stored as JSON next to
/// the ONNX artifact so that the preprocessing travels with the weights it was trained for.
/// </summary>
/// <param name="Version">Registry key, e.g. "resnet18-v1"; letters, digits, '.', '_' and '-', at most 64 characters.</param>
/// <param name="InputName">Name of the graph input that takes the N×3×H×W image tensor.</param>
/// <param name="OutputName">Name of the graph output holding the embedding.</param>
/// <param name="InputWidth">Width W the image is resized to.</param>
/// <param name="InputHeight">Height H the image is resized to.</param>
/// <param name="ChannelOrder">Order of the colour planes in the input tensor.</param>
/// <param name="Mean">Per-plane value (in tensor channel order) subtracted from 0..255 pixels; all zero when the graph subtracts its own mean.</param>
/// <param name="Scale">Per-plane multiplier applied after the mean subtraction.</param>
/// <param name="OutputDimension">Number of floats per embedding (the output's non-batch element count).</param>
/// <param name="L2Normalize">Whether embeddings are scaled to unit length so that dot product equals cosine.</param>
/// <param name="Lineage">Free text relating this version to others, e.g. "backward-compatible with v1".</param>
/// <param name="Description">Human-readable summary of the model.</param>
/// <param name="Properties">Free-form facts such as training data or source checksums.</param>
public sealed partial record ModelManifest(
    string Version,
    string InputName,
    string OutputName,
    int InputWidth,
    int InputHeight,
    ChannelOrder ChannelOrder,
    float[] Mean,
    float[] Scale,
    int OutputDimension,
    bool L2Normalize,
    string? Lineage = null,
    string? Description = null,
    IReadOnlyDictionary<string, string>? Properties = null)
{
    /// <summary>Largest accepted input side; keeps tensor sizes well inside <see cref="int"/>.</summary>
    public const int MaxInputSide = 8192;

    /// <summary>Largest accepted embedding dimension.</summary>
    public const int MaxOutputDimension = 65536;

    private static readonly JsonSerializerOptions _jsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        RespectNullableAnnotations = true,
        WriteIndented = true,
        // Manifests are files read by people, never embedded in HTML: keep '+' and quotes readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false) },
    };

    /// <summary>
    /// Creates an empty manifest for object-initializer syntax and JSON binding; it fails
    /// <see cref="Validate"/> until the required members are set.
    /// </summary>
    public ModelManifest()
        : this(string.Empty, string.Empty, string.Empty, 0, 0, ChannelOrder.Rgb, [], [], 0, false)
    {
    }

    /// <summary>Length of one preprocessed image tensor: 3 × <see cref="InputWidth"/> × <see cref="InputHeight"/>.</summary>
    [JsonIgnore]
    public int TensorLength => 3 * InputWidth * InputHeight;

    /// <summary>Serialises to indented camelCase JSON (enum values as "rgb"/"bgr").</summary>
    public string ToJson() => JsonSerializer.Serialize(this, _jsonOptions);

    /// <summary>Parses and validates a manifest.</summary>
    /// <exception cref="InvalidModelException">The JSON is malformed or a field is missing or invalid; the message names the field.</exception>
    public static ModelManifest FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        ModelManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(json, _jsonOptions);
        }
        catch (JsonException ex)
        {
            var field = ex.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : null;
            throw new InvalidModelException(
                field is null
                    ? $"model manifest is not valid JSON: {ex.Message}"
                    : $"model manifest field '{field}' is invalid: {ex.Message}",
                ex);
        }

        if (manifest is null)
        {
            throw new InvalidModelException("model manifest is empty (JSON null)");
        }

        manifest.Validate();
        return manifest;
    }

    /// <summary>Checks every field; call before trusting a manifest built in code.</summary>
    /// <exception cref="InvalidModelException">A field is missing or invalid; the message names it.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Version))
        {
            throw Field("version", "is missing or empty");
        }

        if (!VersionPattern().IsMatch(Version))
        {
            throw Field("version", $"must start with a letter or digit and contain only letters, digits, '.', '_' or '-' (at most 64 characters); got \"{Version}\"");
        }

        if (string.IsNullOrWhiteSpace(InputName))
        {
            throw Field("inputName", "is missing or empty");
        }

        if (string.IsNullOrWhiteSpace(OutputName))
        {
            throw Field("outputName", "is missing or empty");
        }

        CheckRange("inputWidth", InputWidth, MaxInputSide);
        CheckRange("inputHeight", InputHeight, MaxInputSide);
        CheckRange("outputDimension", OutputDimension, MaxOutputDimension);

        if (!Enum.IsDefined(ChannelOrder))
        {
            throw Field("channelOrder", $"must be rgb or bgr; got {(int)ChannelOrder}");
        }

        CheckChannels("mean", Mean, allowZero: true);
        CheckChannels("scale", Scale, allowZero: false);

        if (Properties is not null)
        {
            foreach (var (key, value) in Properties)
            {
                if (string.IsNullOrWhiteSpace(key) || value is null)
                {
                    throw Field("properties", "must not contain empty keys or null values");
                }
            }
        }
    }

    /// <summary>Value equality that also compares <see cref="Mean"/>, <see cref="Scale"/> and <see cref="Properties"/> by content.</summary>
    public bool Equals(ModelManifest? other)
    {
        if (ReferenceEquals(this, other))
        {
            return true;
        }

        return other is not null
            && Version == other.Version
            && InputName == other.InputName
            && OutputName == other.OutputName
            && InputWidth == other.InputWidth
            && InputHeight == other.InputHeight
            && ChannelOrder == other.ChannelOrder
            && OutputDimension == other.OutputDimension
            && L2Normalize == other.L2Normalize
            && Lineage == other.Lineage
            && Description == other.Description
            && SequenceEqual(Mean, other.Mean)
            && SequenceEqual(Scale, other.Scale)
            && DictionaryEqual(Properties, other.Properties);
    }

    /// <inheritdoc />
    public override int GetHashCode() =>
        HashCode.Combine(Version, InputName, OutputName, InputWidth, InputHeight, ChannelOrder, OutputDimension, L2Normalize);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex VersionPattern();

    private static InvalidModelException Field(string name, string problem) =>
        new($"model manifest field '{name}' {problem}");

    private static void CheckRange(string name, int value, int max)
    {
        if (value <= 0)
        {
            throw Field(name, $"must be positive; got {value}");
        }

        if (value > max)
        {
            throw Field(name, $"must be at most {max}; got {value}");
        }
    }

    private static void CheckChannels(string name, float[]? values, bool allowZero)
    {
        if (values is null || values.Length != 3)
        {
            throw Field(name, $"must have exactly 3 values, one per channel; got {values?.Length ?? 0}");
        }

        foreach (var v in values)
        {
            if (!float.IsFinite(v) || (!allowZero && v == 0f))
            {
                throw Field(name, $"must contain only finite{(allowZero ? string.Empty : ", non-zero")} numbers; got {v.ToString(CultureInfo.InvariantCulture)}");
            }
        }
    }

    private static bool SequenceEqual(float[]? a, float[]? b) =>
        a is null || b is null ? a is null && b is null : a.AsSpan().SequenceEqual(b);

    private static bool DictionaryEqual(IReadOnlyDictionary<string, string>? a, IReadOnlyDictionary<string, string>? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (key, value) in a)
        {
            if (!b.TryGetValue(key, out var other) || other != value)
            {
                return false;
            }
        }

        return true;
    }
}
