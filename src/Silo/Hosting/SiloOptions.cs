using System.ComponentModel.DataAnnotations;

namespace Indexer.Silo.Hosting;

public enum ClusteringMode
{
    /// <summary>One machine: silos find each other on 127.0.0.1 (development, tests, single-box deployments).</summary>
    Localhost,

    /// <summary>Membership in an Azure Storage table: several machines.</summary>
    AzureTable,
}

/// <summary>How this silo joins its cluster. Section <c>Indexer:Cluster</c>.</summary>
public sealed class ClusterSettings
{
    public const string Section = "Indexer:Cluster";

    public ClusteringMode Mode { get; set; } = ClusteringMode.Localhost;

    [Required(AllowEmptyStrings = false)]
    public string ClusterId { get; set; } = "indexer";

    [Required(AllowEmptyStrings = false)]
    public string ServiceId { get; set; } = "indexer";

    [Range(1, 65535)]
    public int SiloPort { get; set; } = 11111;

    [Range(1, 65535)]
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// AzureTable mode: the address this silo listens on and advertises to the others. Empty means the host's
    /// address as DNS resolves it; set 127.0.0.1 to run several silos on one machine.
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>Localhost mode with several silos: the silo port of the first one, which the others join. 0 = this silo is the first.</summary>
    [Range(0, 65535)]
    public int PrimarySiloPort { get; set; }
}

/// <summary>Whether the silo registers the built-in ResNet18 as a model version at start-up. Section <c>Indexer:Models</c>.</summary>
public sealed class ModelSettings
{
    public const string Section = "Indexer:Models";

    public bool RegisterBuiltIn { get; set; } = true;

    [Required(AllowEmptyStrings = false)]
    public string BuiltInVersion { get; set; } = "v1";
}

/// <summary>OTLP export of traces and metrics. Section <c>Indexer:Telemetry</c>; the standard OTEL_EXPORTER_OTLP_ENDPOINT works too.</summary>
public sealed class TelemetrySettings
{
    public const string Section = "Indexer:Telemetry";

    public Uri? OtlpEndpoint { get; set; }

    public string ServiceName { get; set; } = "indexer-silo";
}
