using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Indexer.Storage;

namespace Indexer.Search.Tests;

/// <summary>Storage that accepts connections and never answers must fail a call within the client's bounded retries, not hang it.</summary>
[Trait("Category", "Storage")]
public sealed class BlobClientTimeoutTests
{
    [Fact]
    public async Task AStorageThatNeverAnswers_FailsACall_WithinTheRetriesOfTheNetworkTimeout()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var accepted = new List<Socket>();
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true) accepted.Add(await silent.AcceptSocketAsync(stop.Token)); // read nothing, answer nothing
            }
            catch (OperationCanceledException)
            {
            }
        });

        var connection = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + Convert.ToBase64String(new byte[64]) +
            $";BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";
        var client = BlobClients.Create(connection, networkTimeout: TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => client.GetBlobContainerClient("images").ExistsAsync());
        clock.Stop();
        await stop.CancelAsync();
        await accepting;
        foreach (var socket in accepted) socket.Dispose();

        // Four tries of 1 s each plus back-offs of 0.5, 1 and 2 s: about 7.5 s; the SDK's default timeout would take minutes.
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(30));
        Assert.Contains("timeout", failure.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.True(accepted.Count >= 4, $"{accepted.Count} connections: the client gave up without retrying");
    }

    [Fact]
    public void TheDefaultNetworkTimeout_FailsAHungCall_BeforeOrleansGivesUpOnTheGrainCall()
    {
        // Four tries of the network timeout plus back-offs must stay under Orleans' 5-minute response timeout.
        var worst = (4 * BlobClients.DefaultNetworkTimeout) + TimeSpan.FromSeconds(0.5 + 1 + 2);
        Assert.True(worst < TimeSpan.FromMinutes(5), $"a hung storage call fails after {worst}");
    }
}
