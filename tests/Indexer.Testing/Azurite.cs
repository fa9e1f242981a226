using System.Diagnostics;

namespace Indexer.Testing;

/// <summary>An Azurite instance (in memory) on ports of its own, started through the project's script.</summary>
public sealed class Azurite : IAsyncDisposable
{
    /// <summary>Azurite's published development account key (the same for every installation).</summary>
    public const string DevAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly int _port;

    private Azurite(int port) => _port = port;

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevAccountKey};" +
        $"BlobEndpoint=http://127.0.0.1:{_port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{_port + 1}/devstoreaccount1;" +
        $"TableEndpoint=http://127.0.0.1:{_port + 2}/devstoreaccount1;";

    public static async Task<Azurite> StartAsync(int port)
    {
        await RunScriptAsync("start", port);
        return new Azurite(port);
    }

    public async ValueTask DisposeAsync() => await RunScriptAsync("stop", _port);

    private static async Task RunScriptAsync(string command, int port)
    {
        var script = System.IO.Path.Combine(RepositoryRoot.Path, "scripts", "azurite.sh");
        using var process = Process.Start(new ProcessStartInfo("bash", [script, command, port.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"scripts/azurite.sh {command} {port} failed: {await stderr}");
    }
}
