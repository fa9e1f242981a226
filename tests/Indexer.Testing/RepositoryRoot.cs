namespace Indexer.Testing;

public static class RepositoryRoot
{
    /// <summary>The folder holding Indexer.sln: above the test binaries, or where the build says the repository was.</summary>
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Indexer.sln"))) return dir.FullName;
        }

        var built = typeof(RepositoryRoot).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "RepositoryRoot")?.Value;
        if (built is not null && File.Exists(System.IO.Path.Combine(built, "Indexer.sln"))) return built;
        throw new InvalidOperationException("Indexer.sln not found above " + AppContext.BaseDirectory);
    }
}
