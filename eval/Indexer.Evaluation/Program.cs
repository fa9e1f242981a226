using Indexer.Evaluation;

return await EvaluationApp.Build().Parse(args).InvokeAsync();
