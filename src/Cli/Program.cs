using Indexer.Cli;

return await CliApp.Build().Parse(args).InvokeAsync();
