using Indexer.Cli;
using Indexer.Testing;

namespace Indexer.Tests.EndToEnd;

[Collection(SiloCollection.Name), Trait("Category", "EndToEnd")]
public sealed class CliTests(SiloFixture fixture) : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("indexer-cli-test");

    private Task<int> Indexer(params string[] args) =>
        CliApp.Build().Parse([.. args, "--url", fixture.Host.BaseAddress.ToString(), "--user", "alice", "--key", SiloHost.AliceKey]).InvokeAsync();

    [Fact]
    public async Task Ingest_FolderWithOneBrokenFile_IndexesTheOthersAndExitsWithPartial()
    {
        for (var i = 0; i < 6; i++)
        {
            var label = SampleImages.Label(1500 + i).Replace('/', '-');
            Directory.CreateDirectory(Path.Combine(_folder.FullName, label));
            await File.WriteAllBytesAsync(Path.Combine(_folder.FullName, label, $"img{i}.png"), SampleImages.Images.EncodePng(1500 + i));
        }

        await File.WriteAllBytesAsync(Path.Combine(_folder.FullName, "broken.png"), BadImages.RandomBytes());
        await File.WriteAllTextAsync(Path.Combine(_folder.FullName, "notes.txt"), "not an image and not picked up");

        var exit = await Indexer("ingest", _folder.FullName, "--gallery", "cli-folder");

        Assert.Equal(CliApp.Partial, exit);
        var stats = await fixture.Host.Alice.GetStatsAsync("cli-folder");
        Assert.Equal(6, stats.Items);
        var items = await fixture.Host.Alice.ListItemsAsync("cli-folder");
        Assert.All(items.Items, item => Assert.StartsWith(item.Metadata["label"] + "/", item.Metadata["file"]));
        Assert.Equal(CliApp.Ok, await Indexer("search", Path.Combine(_folder.FullName, SampleImages.Label(1500).Replace('/', '-'), "img0.png"), "-g", "cli-folder"));
    }

    [Fact]
    public async Task Commands_WithBadInput_ExitWithBadInput()
    {
        Assert.Equal(CliApp.BadInput, await Indexer("status", "-g", "no-such-gallery"));
        Assert.Equal(CliApp.BadInput, await Indexer("ingest", Path.Combine(_folder.FullName, "missing"), "-g", "x"));
        Assert.Equal(CliApp.BadInput, await Indexer("search", "-g", SiloFixture.Gallery));
        var noKey = await CliApp.Build().Parse(["status", "-g", SiloFixture.Gallery, "--url", fixture.Host.BaseAddress.ToString(), "--key", ""]).InvokeAsync();
        Assert.Equal(CliApp.BadInput, noKey);
    }

    public void Dispose() => _folder.Delete(recursive: true);
}
