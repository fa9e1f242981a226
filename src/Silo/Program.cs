using Indexer.Silo.Api;
using Indexer.Silo.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddIndexerSilo();
builder.AddServiceDefaults();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapIndexerApi();
app.Run();

/// <summary>Entry point; public so tests can host the same application.</summary>
public partial class Program;
