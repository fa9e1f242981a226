using System.Diagnostics;
using Azure.Storage.Blobs;
using Indexer.Storage;

namespace Indexer.Search.Tests;

/// <summary>
/// Starts an in-memory Azurite for the storage tests through the repository's <c>scripts/azurite.sh</c>
/// and stops it when the collection is done. It uses a port of its own so it never collides with an
/// emulator that other test projects or a developer run on the default ports.
/// </summary>
public sealed class AzuriteFixture : IDisposable
{
    /// <summary>Blob port for this test project (queue and table take the next two).</summary>
    public const int BlobPort = 10400;

    /// <summary>Starting in memory takes ~1.7 s (PLATFORM.md §2); the script itself waits up to 10 s.</summary>
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Azurite's fixed, publicly documented development account and key.</summary>
    public static readonly string ConnectionString =
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
        "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
        $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;" +
        $"QueueEndpoint=http://127.0.0.1:{BlobPort + 1}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{BlobPort + 2}/devstoreaccount1;";

    private readonly string _repoRoot;

    public AzuriteFixture()
    {
        _repoRoot = FindRepoRoot();
        RunScript("start");
        Service = BlobClients.Create(ConnectionString);
    }

    /// <summary>A client built the way production code builds it.</summary>
    public BlobServiceClient Service { get; }

    /// <summary>A fresh container name per test, so tests never see each other's blobs.</summary>
    public static string NewContainerName(string purpose) => $"{purpose}-{Guid.NewGuid():N}"[..Math.Min(63, purpose.Length + 33)];

    public void Dispose() => RunScript("stop");

    private void RunScript(string command)
    {
        var start = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _repoRoot,
        };
        start.ArgumentList.Add(Path.Combine(_repoRoot, "scripts", "azurite.sh"));
        start.ArgumentList.Add(command);
        start.ArgumentList.Add(BlobPort.ToString(System.Globalization.CultureInfo.InvariantCulture));

        using Process process = Process.Start(start) ?? throw new InvalidOperationException("Could not start bash for scripts/azurite.sh.");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(ScriptTimeout))
        {
            process.Kill(entireProcessTree: false);
            throw new TimeoutException($"scripts/azurite.sh {command} {BlobPort} did not finish in {ScriptTimeout.TotalSeconds} s.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"scripts/azurite.sh {command} {BlobPort} exited with {process.ExitCode}: {stdout.Result}{stderr.Result}");
        }
    }

    /// <summary>Walks up from the test binaries to the folder that holds Indexer.sln or .git.</summary>
    private static string FindRepoRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Indexer.sln"))
                || Directory.Exists(Path.Combine(dir.FullName, ".git"))
                || File.Exists(Path.Combine(dir.FullName, ".git")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No folder with Indexer.sln or .git above {AppContext.BaseDirectory}.");
    }
}

/// <summary>All tests that talk to Azurite share one emulator instance.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
