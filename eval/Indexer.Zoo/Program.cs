using Indexer.Zoo;

return await ZooApp.Build().Parse(args).InvokeAsync();
