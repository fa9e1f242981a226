using Indexer.Silo;

await IndexerSiloApp.Create(args).RunAsync();
