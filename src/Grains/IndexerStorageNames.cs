namespace Indexer.Grains;

/// <summary>Names shared by the silo configuration and the grains.</summary>
public static class IndexerStorageNames
{
    /// <summary>The Orleans grain-storage provider holding grain state (Azure Blob, binary serializer).</summary>
    public const string GrainStateProvider = "indexer";

    public const string ImagesContainer = "images";
    public const string SegmentsContainer = "segments";
    public const string ModelsContainer = "models";

    /// <summary>One JSON document per gallery: its clusters, their names and the user's corrections.</summary>
    public const string ClustersContainer = "clusters";
    public const string GrainStateContainer = "grainstate";

    /// <summary>The Azure table of Orleans reminders (table names allow letters and digits only).</summary>
    public const string RemindersTable = "reminders";
}
