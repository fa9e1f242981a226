using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Indexer.Client;
using Indexer.Embedding;
using Indexer.Galleries;
using Indexer.Models;
using Indexer.Search;
using Indexer.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Indexer.Tests.EndToEnd;

/// <summary>
/// A silo of its own (rollouts change what the whole cluster serves) with three galleries of two users, 900 real
/// Fashion-MNIST images in all, ingested with the current version.
/// </summary>
public sealed class RolloutFixture : IAsyncLifetime
{
    public static readonly (string User, string Gallery, int From, int Count)[] Galleries =
        [("alice", "g1", 0, 400), ("alice", "g2", 400, 400), ("bob", "b1", 800, 100)];

    public SiloHost Host { get; private set; } = null!;

    public static readonly Lazy<ImportedModel> Backbone = new(() =>
        ResNet18Model.Import(ResNet18Model.DefaultModelPath, ResNet18Model.DefaultPreprocessPath, "base"));

    public IndexerHttpClient As(string user) => user == "alice" ? Host.Alice : Host.Bob;

    public async Task InitializeAsync()
    {
        Host = await SiloHost.StartAsync(basePort: 5480);
        foreach (var (user, gallery, from, count) in Galleries)
        {
            foreach (var batch in SampleImages.Uploads(from, count).Chunk(100)) Assert.Empty((await As(user).UploadAsync(gallery, batch)).Rejected);
        }

        foreach (var (user, gallery, _, _) in Galleries) await WaitUntilIndexedAsync(user, gallery);
    }

    public Task<GalleryStats> WaitUntilIndexedAsync(string user, string gallery) => SiloHost.WaitUntilIndexedAsync(As(user), gallery, TimeSpan.FromMinutes(5));

    /// <summary>Registers the backbone followed by a random rotation: a version whose relation to v1 is known exactly.</summary>
    public async Task<string> RegisterRotatedAsync(string version, int seed, string? lineage = null)
    {
        var model = ModelDerivation.AppendLinearMap(Backbone.Value, RandomOrthogonal.Create(512, seed), 512, version, lineage, "v1 followed by a random rotation");
        await Host.Operator.RegisterModelAsync(model.Onnx, model.Manifest.ToJson());
        return version;
    }

    public Task<RolloutStatus> WaitForPhaseAsync(Func<RolloutStatus, bool> done, TimeSpan timeout) => Host.WaitForRolloutAsync(done, timeout);

    /// <summary>Rolls back a rollout a failed test left active, so that each test starts from a settled cluster.</summary>
    public async Task SettleAsync()
    {
        if (await Host.Operator.GetRolloutAsync() is { Phase: RolloutPhase.Calibrating or RolloutPhase.Backfilling or RolloutPhase.Paused or RolloutPhase.Backfilled })
        {
            await Host.Operator.RolloutActionAsync("rollback");
        }
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Model rollouts through the HTTP API on a real silo with Azurite and the real backbone.</summary>
[Trait("Category", "EndToEnd")]
public sealed class RolloutTests(RolloutFixture fixture) : IClassFixture<RolloutFixture>
{
    private static readonly int[] QueryImages = [1900, 1901, 1902, 1903, 1904, 1905];

    private IndexerHttpClient Operator => fixture.Host.Operator;

    private IndexerHttpClient Alice => fixture.Host.Alice;

    [Fact]
    public async Task Rollout_ToARotatedVersion_ServesOldItemsThroughTheMapAtOnce_AndRollsBackToIdenticalAnswers()
    {
        await fixture.SettleAsync();
        var target = await fixture.RegisterRotatedAsync("rotated-a", seed: 21);
        var from = (await Operator.ListModelsAsync()).Current!;
        var before = new List<SearchResult>();
        foreach (var q in QueryImages) before.Add(await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(q), 10));

        // A client searching all along: no search may fail, and the first one answered in the new version is timed.
        using var stop = new CancellationTokenSource();
        var answers = new ConcurrentQueue<(DateTimeOffset At, SearchResult Result)>();
        var failures = new ConcurrentQueue<Exception>();
        var searcher = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    var result = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[i % QueryImages.Length]), 10);
                    answers.Enqueue((DateTimeOffset.UtcNow, result));
                }
                catch (Exception ex)
                {
                    failures.Enqueue(ex);
                }
            }
        });

        var started = await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.Lazy, Threshold: 0.8, SampleSize: 800));
        Assert.Equal(from, started.From);
        var second = await Assert.ThrowsAsync<IndexerApiException>(() => Operator.StartRolloutAsync(new RolloutRequest(target)));
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);

        var done = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Calibrating && s.Phase != RolloutPhase.Backfilling, TimeSpan.FromMinutes(4));
        Assert.Equal(RolloutPhase.Backfilled, done.Phase);
        Assert.Equal(RouteKind.Mapped, done.Route);
        Assert.True(done.Calibration!.HeldOut.Min >= 0.99, $"held-out agreement min {done.Calibration.HeldOut.Min:F4}");
        Assert.Equal(900, done.Scored);
        Assert.Equal(0, done.Selected); // the map serves every item: nothing falls below the threshold, nothing is re-embedded
        Assert.Equal(0, done.Done);

        var activatedAt = done.ActivatedAt!.Value;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!answers.Any(a => a.Result.QueryModelVersion == target) && DateTime.UtcNow < deadline) await Task.Delay(50);
        var firstNew = answers.Where(a => a.Result.QueryModelVersion == target).Min(a => a.At);
        Assert.True(firstNew - activatedAt < TimeSpan.FromSeconds(1), $"first {target} answer {(firstNew - activatedAt).TotalMilliseconds:F0} ms after activation");

        // Served through the map, old items rank as the old model ranked them.
        var overlap = 0;
        for (var i = 0; i < QueryImages.Length; i++)
        {
            var after = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[i]), 10);
            Assert.Equal(target, after.QueryModelVersion);
            Assert.Equal(400, after.Routes!["mapped"]);
            Assert.Equal(0, after.Excluded);
            Assert.Equal(from, after.GuardedBy); // embedded by the old model too, whose scores order the first matches
            overlap += after.Matches.Select(m => m.ItemId).Intersect(before[i].Matches.Select(m => m.ItemId)).Count();
        }

        Assert.True(overlap >= 0.9 * 10 * QueryImages.Length, $"top-10 overlap with the old model's answers: {overlap} of {10 * QueryImages.Length}");
        var byItem = await Alice.SearchByItemAsync("g1", SampleImages.Upload(0).ItemId, 10);
        Assert.Equal(from, byItem.GuardedBy); // the item's own old vector is its old embedding: nothing more to embed

        // An upload during the rollout is embedded with both versions, so a rollback finds it too.
        await Alice.UploadAsync("g2", [SampleImages.Upload(1950)]);
        await fixture.WaitUntilIndexedAsync("alice", "g2");
        var uploaded = await Alice.GetItemAsync("g2", SampleImages.Upload(1950).ItemId);
        Assert.Equal(new[] { from, target }.Order(StringComparer.Ordinal), uploaded.ModelVersions!.Order(StringComparer.Ordinal));

        var rolledBack = await Operator.RolloutActionAsync("rollback");
        Assert.Equal(RolloutPhase.RolledBack, rolledBack.Phase);
        await stop.CancelAsync();
        await searcher;
        Assert.Empty(failures);
        Assert.Equal(from, (await Operator.ListModelsAsync()).Current);
        for (var i = 0; i < QueryImages.Length; i++)
        {
            var again = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[i]), 10);
            Assert.Equal(from, again.QueryModelVersion);
            Assert.Null(again.GuardedBy);
            Assert.Equal(before[i].Matches.Select(m => (m.ItemId, m.Score)), again.Matches.Select(m => (m.ItemId, m.Score)));
        }

        var upload = await Alice.SearchByImageAsync("g2", SampleImages.Images.EncodePng(1950), 1);
        Assert.Equal(SampleImages.Upload(1950).ItemId, upload.Matches[0].ItemId);
    }

    [Fact]
    public async Task OwnSpaceRoute_RanksOldItemsExactlyAsTheOldModelDid_AndMergesNewItemsIn()
    {
        await fixture.SettleAsync();
        var target = await fixture.RegisterRotatedAsync("own-space", seed: 28);
        var from = (await Operator.ListModelsAsync()).Current!;
        var before = new List<SearchResult>();
        foreach (var q in QueryImages) before.Add(await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(q), 10));
        var item = SampleImages.Upload(0).ItemId;
        var beforeByItem = await Alice.SearchByItemAsync("g1", item, 10);

        await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.None, SampleSize: 800, Route: RoutePreference.OwnSpace));
        var active = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Calibrating, TimeSpan.FromMinutes(4));
        Assert.Equal(RolloutPhase.Backfilled, active.Phase);
        Assert.Equal(RouteKind.OwnSpace, active.Route);
        Assert.Contains("own space", active.Message);

        // Every item of g1 holds only the old version: each is compared with the query's old embedding, so the ranking is
        // the old model's, item for item; the scores are calibrated (a rotation changes no cosine, so they barely move).
        for (var i = 0; i < QueryImages.Length; i++)
        {
            var after = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[i]), 10);
            Assert.Equal(target, after.QueryModelVersion);
            Assert.Equal(new Dictionary<string, int> { ["own-space"] = 400 }, after.Routes);
            Assert.Equal(0, after.Excluded);
            Assert.Null(after.GuardedBy); // both models rank already: no guard
            Assert.Equal(before[i].Matches.Select(m => m.ItemId), after.Matches.Select(m => m.ItemId));
            for (var m = 0; m < after.Matches.Count; m++) Assert.Equal(before[i].Matches[m].Score, after.Matches[m].Score, 0.02);
        }

        var byItem = await Alice.SearchByItemAsync("g1", item, 10);
        Assert.Equal(target, byItem.QueryModelVersion);
        Assert.Equal(beforeByItem.Matches.Select(m => m.ItemId), byItem.Matches.Select(m => m.ItemId));

        // An upload during the rollout holds the new version too: served same-version, merged with the old items by score.
        var upload = SampleImages.Upload(1960);
        await Alice.UploadAsync("g1", [upload]);
        await fixture.WaitUntilIndexedAsync("alice", "g1");
        var mixed = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(1960), 10);
        Assert.Equal(new Dictionary<string, int> { ["same-version"] = 1, ["own-space"] = 400 }, mixed.Routes);
        Assert.Equal(upload.ItemId, mixed.Matches[0].ItemId);
        Assert.Equal(1f, mixed.Matches[0].Score, 0.001);
        Assert.True(mixed.Matches.Skip(1).All(m => m.Score < 0.999f));

        await Alice.DeleteItemAsync("g1", upload.ItemId);
        Assert.Equal(RolloutPhase.RolledBack, (await Operator.RolloutActionAsync("rollback")).Phase);
        for (var i = 0; i < QueryImages.Length; i++)
        {
            var again = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[i]), 10);
            Assert.Equal(from, again.QueryModelVersion);
            Assert.Equal(before[i].Matches.Select(m => (m.ItemId, m.Score)), again.Matches.Select(m => (m.ItemId, m.Score)));
        }
    }

    [Fact]
    public async Task ADamagedMap_ExcludesItsItemsFromSearch_InsteadOfFailingIt_AndARollbackServesThemAgain()
    {
        await fixture.SettleAsync();
        var target = await fixture.RegisterRotatedAsync("rotated-damaged", seed: 24);
        var from = (await Operator.ListModelsAsync()).Current!;
        var items = (await Alice.GetStatsAsync("g1")).Items;
        await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.None, SampleSize: 100));
        var done = await fixture.WaitForPhaseAsync(s => s.Phase is not (RolloutPhase.Calibrating or RolloutPhase.Backfilling), TimeSpan.FromMinutes(4));
        Assert.Equal((RolloutPhase.Backfilled, RouteKind.Mapped), (done.Phase, done.Route));

        // The stored map is damaged, and a new silo has to read it.
        await fixture.Host.Services.GetRequiredService<Storage.BlobModelStore>().PutMapAsync(from, target, "not a map"u8.ToArray(), CancellationToken.None);
        await fixture.Host.KillSiloAsync();
        await fixture.Host.StartSiloAsync();

        var damaged = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[0]), 10);
        Assert.Equal(target, damaged.QueryModelVersion);
        Assert.Equal(items, damaged.Excluded); // every item is still only in the old version, and said to be left out
        Assert.Empty(damaged.Matches);

        Assert.Equal(RolloutPhase.RolledBack, (await Operator.RolloutActionAsync("rollback")).Phase);
        var back = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[0]), 10);
        Assert.Equal(from, back.QueryModelVersion);
        Assert.Equal(0, back.Excluded);
        Assert.Equal(10, back.Matches.Count);
    }

    [Fact]
    public async Task FullBackfill_SurvivesAKilledSilo_AndCommitLeavesOneVectorPerItem()
    {
        await fixture.SettleAsync();
        var target = await fixture.RegisterRotatedAsync("rotated-b", seed: 22);
        var items = new Dictionary<string, int>();
        foreach (var (user, gallery, _, _) in RolloutFixture.Galleries) items[gallery] = (await fixture.As(user).GetStatsAsync(gallery)).Items;

        // The full policy re-embeds every item whatever the map: a small calibration sample keeps the test short.
        await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.Full, SampleSize: 100));
        var midway = await fixture.WaitForPhaseAsync(s => s.Done >= 100 || s.Phase is not (RolloutPhase.Calibrating or RolloutPhase.Backfilling), TimeSpan.FromMinutes(4));
        Assert.Equal(RolloutPhase.Backfilling, midway.Phase);

        await fixture.Host.KillSiloAsync();
        await fixture.Host.StartSiloAsync();

        var done = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Backfilling, TimeSpan.FromMinutes(4));
        Assert.Equal(RolloutPhase.Backfilled, done.Phase);
        Assert.Equal(items.Values.Sum(), done.Scored); // no item held the new version before
        Assert.Equal(done.Scored, done.Selected); // the full policy selects every one
        Assert.Equal(0, done.Failed);
        Assert.Equal(done.Selected, done.Done); // every selected item re-embedded once: a second time would count twice
        foreach (var (user, gallery, _, _) in RolloutFixture.Galleries)
        {
            var stats = await fixture.As(user).GetStatsAsync(gallery);
            Assert.Equal(items[gallery], stats.Items);
            Assert.Equal(items[gallery], stats.ItemsByModelVersion[target]); // no item lost, all converted
        }

        var committed = await Operator.RolloutActionAsync("commit");
        Assert.Equal(RolloutPhase.Committed, committed.Phase);
        foreach (var (user, gallery, _, _) in RolloutFixture.Galleries)
        {
            var stats = await fixture.As(user).GetStatsAsync(gallery);
            Assert.Equal(new Dictionary<string, int> { [target] = items[gallery] }, stats.ItemsByModelVersion);
        }

        var result = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[0]), 10);
        Assert.Equal(target, result.QueryModelVersion);
        Assert.Equal(items["g1"], result.Routes!["same-version"]);
    }

    [Fact]
    public async Task Start_WhenAClaimOfCompatibilityFailsOnLabeledData_StopsBeforeActivationAndChangesNothing()
    {
        await fixture.SettleAsync();
        var current = (await Operator.ListModelsAsync()).Current!;
        // A rotation of the current model claiming to be backward-compatible with it: as good, but not comparable.
        var target = await fixture.RegisterRotatedAsync("false-claim", seed: 23, lineage: $"backward-compatible:{current}");

        await Operator.StartRolloutAsync(new RolloutRequest(target, OnFailedClaim: FailedClaimAction.Stop, SampleSize: 800, EvaluationGallery: "alice/g1"));
        var stopped = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Calibrating, TimeSpan.FromMinutes(4));

        Assert.Equal(RolloutPhase.Failed, stopped.Phase);
        Assert.False(stopped.ClaimVerified);
        var evaluation = stopped.Evaluation!;
        Assert.Equal(400, evaluation.Items);
        Assert.Equal(10, evaluation.Labels);
        Assert.False(evaluation.CriterionHolds);
        Assert.True(evaluation.NewOldMap < 0.5 * evaluation.OldOldMap, $"new/old {evaluation.NewOldMap:F3} vs old/old {evaluation.OldOldMap:F3}");
        Assert.Equal(evaluation.OldOldMap, evaluation.NewNewMap, 0.01); // a rotation: the same quality in its own space
        Assert.Equal(evaluation.OldOldMap, evaluation.NewMappedMap, 0.03); // and the map recovers it
        Assert.Contains("verification rejected", stopped.Message);
        Assert.Equal(current, (await Operator.ListModelsAsync()).Current);
        var result = await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(QueryImages[0]), 5);
        Assert.Equal(current, result.QueryModelVersion);

        // Started again on the same data, the verification is reused: the same table, and no image embedded for it.
        var embeddedBefore = await ImagesEmbeddedAsync(target);
        Assert.True(embeddedBefore >= 400, $"the first verification embedded {embeddedBefore} images with {target}");
        await Operator.StartRolloutAsync(new RolloutRequest(target, OnFailedClaim: FailedClaimAction.Stop, SampleSize: 800, EvaluationGallery: "alice/g1"));
        var again = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Calibrating, TimeSpan.FromMinutes(4));
        Assert.Equal(RolloutPhase.Failed, again.Phase);
        Assert.Equal(evaluation, again.Evaluation);
        Assert.Equal(embeddedBefore, await ImagesEmbeddedAsync(target));
    }

    /// <summary>Images the silo embedded with <paramref name="version"/>, from its Prometheus endpoint.</summary>
    private async Task<double> ImagesEmbeddedAsync(string version)
    {
        using var http = fixture.Host.RawHttp();
        var text = await http.GetStringAsync("metrics");
        return text.Split('\n')
            .Where(line => line.StartsWith("indexer_embedding_images", StringComparison.Ordinal) && line.Contains($"model_version=\"{version}\"", StringComparison.Ordinal))
            .Sum(line => double.Parse(line[(line.IndexOf("} ", StringComparison.Ordinal) + 2)..].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Without a budget every round grants each gallery 256 items, far more than the workers embed in a round, so the
    /// galleries hold credit well ahead of the work. A pause must still stop the backfill within the batches in flight
    /// (the grants are withdrawn), and a resume start it again.
    /// </summary>
    [Fact]
    public async Task Pause_StopsAnUnbudgetedBackfillWithinTheBatchesInFlight_AndResumeRestartsIt()
    {
        await fixture.SettleAsync();
        var target = await fixture.RegisterRotatedAsync("rotated-pause", seed: 33);
        var total = 0;
        foreach (var (user, gallery, _, _) in RolloutFixture.Galleries) total += (await fixture.As(user).GetStatsAsync(gallery)).Items;
        async Task<int> Converted()
        {
            var n = 0;
            foreach (var (user, gallery, _, _) in RolloutFixture.Galleries) n += (await fixture.As(user).GetStatsAsync(gallery)).ItemsByModelVersion.GetValueOrDefault(target);
            return n;
        }

        await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.Full, SampleSize: 100));
        var running = await fixture.WaitForPhaseAsync(s => s.Done >= 100 || s.Phase is not (RolloutPhase.Calibrating or RolloutPhase.Backfilling), TimeSpan.FromMinutes(2));
        Assert.Equal(RolloutPhase.Backfilling, running.Phase);
        Assert.Equal(RolloutPhase.Paused, (await Operator.RolloutActionAsync("pause")).Phase);

        // Batches in flight when the pause arrived (at most 2 x 16 per gallery) land within seconds; then nothing moves.
        await Task.Delay(TimeSpan.FromSeconds(6));
        var settled = await Converted();
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.Equal(settled, await Converted());
        Assert.True(settled < total - 300, $"{settled} of {total} items re-embedded although the backfill was paused at {running.Done}");

        Assert.Equal(RolloutPhase.Backfilling, (await Operator.RolloutActionAsync("resume")).Phase);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await Converted() < settled + 32 && DateTime.UtcNow < deadline) await Task.Delay(250);
        Assert.True(await Converted() >= settled + 32, "the backfill did not start again after the resume");
        Assert.Equal(RolloutPhase.RolledBack, (await Operator.RolloutActionAsync("rollback")).Phase);
    }

    /// <summary>
    /// A slow full backfill (4 items/s over 900 items) while a user keeps finding the same photos: the items among the
    /// first 10 results of three searches are re-embedded next, long before the policy's order would reach most of them.
    /// </summary>
    [Fact]
    public async Task ItemsSearchedOften_AreReEmbeddedAheadOfThePolicysOrder()
    {
        await fixture.SettleAsync();
        var target = await fixture.RegisterRotatedAsync("rotated-hot", seed: 31);
        await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.Full, MaxItemsPerSecond: 4, SampleSize: 100));
        // Searches count once a gallery has its backfill queue: every gallery has scored its items.
        var items = RolloutFixture.Galleries.Sum(g => g.Count);
        var active = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Calibrating && (s.Scored >= items || s.Phase != RolloutPhase.Backfilling), TimeSpan.FromMinutes(2));
        Assert.Equal(RolloutPhase.Backfilling, active.Phase);

        // Three searches per query image; the items in all three top-10s and still old at the first count as searched often.
        var hot = new HashSet<string>(StringComparer.Ordinal);
        foreach (var q in QueryImages.Take(3))
        {
            var results = new List<SearchResult>();
            for (var i = 0; i < 3; i++) results.Add(await Alice.SearchByImageAsync("g1", SampleImages.Images.EncodePng(q), 10));
            Assert.All(results, r => Assert.Equal(target, r.QueryModelVersion));
            var found = results.Select(r => r.Matches.Select(m => m.ItemId).ToHashSet(StringComparer.Ordinal)).Aggregate((a, b) => { a.IntersectWith(b); return a; });
            var stillOld = results[0].Matches.Where(m => m.ModelVersion != target).Select(m => m.ItemId);
            hot.UnionWith(found.Intersect(stillOld));
        }

        Assert.True(hot.Count >= 10, $"only {hot.Count} items found by all three searches of an image while still old");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var waiting = hot.ToList();
        while (waiting.Count > 0 && DateTime.UtcNow < deadline)
        {
            var remaining = new List<string>();
            foreach (var id in waiting)
            {
                if (!(await Alice.GetItemAsync("g1", id)).ModelVersions!.Contains(target)) remaining.Add(id);
            }

            waiting = remaining;
            if (waiting.Count > 0) await Task.Delay(250);
        }

        var status = await Operator.GetRolloutAsync();
        Assert.True(waiting.Count == 0, $"{waiting.Count} of {hot.Count} searched items still old after 60 s; rollout {status!.Phase}, {status.Done} of {status.Selected} re-embedded, {status.Promoted} promoted");
        // By the policy's order alone, every one of these items would have to sit among the first items re-embedded.
        Assert.True(status!.Done < 200, $"{status.Done} of {status.Selected} items re-embedded before the searched ones were");
        // An item the policy's order handed out between the first and the third search is re-embedded without promotion.
        Assert.True(status.Promoted >= hot.Count / 2, $"{status.Promoted} promoted, {hot.Count} searched often");
        Assert.Equal(RolloutPhase.RolledBack, (await Operator.RolloutActionAsync("rollback")).Phase);
    }

    /// <summary>
    /// The rollout's stored record changes under its activation in the middle of a backfill, as when a write was stored
    /// but its answer lost and the client retried it (seen in the 20-gallery harness run): every later write of that
    /// activation fails its ETag condition. The rollout must not stall on it; a fresh activation carries on.
    /// </summary>
    [Fact]
    public async Task ARolloutWhoseStoredRecordChangesUnderIt_CarriesOnToTheEnd()
    {
        await fixture.SettleAsync();
        var target = await fixture.RegisterRotatedAsync("rotated-stale", seed: 37);
        await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.Full, MaxItemsPerSecond: 40, SampleSize: 100));
        await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Calibrating && (s.Done > 0 || s.Phase != RolloutPhase.Backfilling), TimeSpan.FromMinutes(2));

        await fixture.Host.RestoreGrainStateAsync("rollout"); // same content, new ETag

        var done = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Backfilling, TimeSpan.FromMinutes(2));
        Assert.Equal(RolloutPhase.Backfilled, done.Phase);
        Assert.Equal(done.Scored, done.Selected); // a full backfill: every item
        Assert.Equal(done.Selected, done.Done);
        Assert.Equal(0, done.Failed);
        Assert.Equal(RolloutPhase.RolledBack, (await Operator.RolloutActionAsync("rollback")).Phase);
    }

    [Fact]
    public async Task Retire_IsRefusedForAVersionInUse_AndARetiredVersionCannotBeRolledOut()
    {
        await fixture.SettleAsync();
        var registry = fixture.Host.Services.GetRequiredService<IGrainFactory>().GetGrain<IModelRegistryGrain>(IModelRegistryGrain.Key);
        var current = (await Operator.ListModelsAsync()).Current!;
        var target = await fixture.RegisterRotatedAsync("to-retire", seed: 26);

        var inUse = await Assert.ThrowsAsync<IndexerException>(() => registry.RetireAsync(current));
        var retired = await registry.RetireAsync(target);
        var unknown = await Assert.ThrowsAsync<IndexerException>(() => registry.RetireAsync("no-such-model"));

        Assert.Equal(IndexerErrorCode.Conflict, inUse.Code);
        Assert.True(retired.Retired);
        Assert.Equal(IndexerErrorCode.NotFound, unknown.Code);

        // The same over HTTP: operators only, 409 for a version in use, idempotent, visible on the model.
        Assert.Equal(HttpStatusCode.Forbidden, (await Assert.ThrowsAsync<IndexerApiException>(() => Alice.RetireModelAsync(target))).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await Assert.ThrowsAsync<IndexerApiException>(() => Operator.RetireModelAsync(current))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Assert.ThrowsAsync<IndexerApiException>(() => Operator.RetireModelAsync("no-such-model"))).StatusCode);
        Assert.True((await Operator.RetireModelAsync(target)).Retired);
        Assert.True((await Operator.GetModelAsync(target)).Retired);
        Assert.False((await Operator.GetModelAsync(current)).Retired);
        var refused = await Assert.ThrowsAsync<IndexerApiException>(() => Operator.StartRolloutAsync(new RolloutRequest(target)));
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("retired", refused.Message);
        Assert.Equal(current, (await Operator.ListModelsAsync()).Current);
    }

    [Fact]
    public async Task Start_RightAfterARollback_RunsAtOnceInsteadOfWaitingForTheResumeReminder()
    {
        await fixture.SettleAsync();
        var target = await fixture.RegisterRotatedAsync("restart", seed: 27);
        await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.None, SampleSize: 100));
        await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Calibrating, TimeSpan.FromMinutes(4));
        await Operator.RolloutActionAsync("rollback");

        // The calibration is reused, so activation takes seconds; the resume reminder would come after a minute.
        var started = DateTimeOffset.UtcNow;
        await Operator.StartRolloutAsync(new RolloutRequest(target, BackfillPolicy.None, SampleSize: 100));
        var again = await fixture.WaitForPhaseAsync(s => s.Phase != RolloutPhase.Calibrating, TimeSpan.FromMinutes(4));

        Assert.Equal(RolloutPhase.Backfilled, again.Phase);
        Assert.True(again.ActivatedAt!.Value - started < TimeSpan.FromSeconds(30), $"activated {(again.ActivatedAt.Value - started).TotalSeconds:F1} s after start");
        await Operator.RolloutActionAsync("rollback");
    }

    [Fact]
    public async Task Start_WithBadArguments_IsRefusedAndChangesNothing()
    {
        var before = await Operator.ListModelsAsync();
        async Task<HttpStatusCode> Refused(RolloutRequest request) =>
            (await Assert.ThrowsAsync<IndexerApiException>(() => Operator.StartRolloutAsync(request))).StatusCode;

        Assert.Equal(HttpStatusCode.NotFound, await Refused(new RolloutRequest("no-such-model")));
        Assert.Equal(HttpStatusCode.BadRequest, await Refused(new RolloutRequest(before.Current!, Threshold: 1.5)));
        Assert.Equal(HttpStatusCode.BadRequest, await Refused(new RolloutRequest(before.Current!, Threshold: -0.1)));
        Assert.Equal(HttpStatusCode.BadRequest, await Refused(new RolloutRequest(before.Current!, MaxItemsPerSecond: 0)));
        Assert.Equal(HttpStatusCode.BadRequest, await Refused(new RolloutRequest(before.Current!, MaxFraction: 0)));
        Assert.Equal(HttpStatusCode.BadRequest, await Refused(new RolloutRequest(before.Current!, SampleSize: 3)));
        Assert.Equal(HttpStatusCode.BadRequest, await Refused(new RolloutRequest(before.Current!, PromoteAfterHits: -1)));
        Assert.Equal(HttpStatusCode.BadRequest, await Refused(new RolloutRequest(before.Current!, EvaluationGallery: "no-slash")));
        using (var http = fixture.Host.RawHttp(SiloHost.OperatorKey))
        {
            foreach (var (field, body) in new[] { ("route", "{\"to\": \"v1\", \"route\": \"sideways\"}"), ("policy", "{\"to\": \"v1\", \"policy\": \"sometimes\"}") })
            {
                using var response = await http.PostAsync("v1/rollout", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                Assert.Contains($"$.{field}", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }

        var forbidden = await Assert.ThrowsAsync<IndexerApiException>(() => Alice.StartRolloutAsync(new RolloutRequest(before.Current!)));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal(before.Current, (await Operator.ListModelsAsync()).Current);
    }
}
