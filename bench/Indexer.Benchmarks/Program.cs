namespace Indexer.Benchmarks;

/// <summary>
/// Entry point: one subcommand per benchmark, so each area can add its own without touching the others.
/// Usage: <c>dotnet run -c Release --project bench/Indexer.Benchmarks -- &lt;subcommand&gt; [options]</c>.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage(Console.Out);
            return args.Length == 0 ? 2 : 0;
        }

        string[] rest = args[1..];
        try
        {
            return args[0] switch
            {
                "search" => SearchBenchmark.Run(rest),
                "embed" => PipelineBenchmark.RunEmbed(rest),
                "ingest" => PipelineBenchmark.RunIngest(rest),
                "rollout" => RolloutBenchmark.Run(rest),
                "map" => RolloutBenchmark.RunMapCost(rest),
                "cluster" => ClusterBenchmark.Run(rest),
                _ => UnknownCommand(args[0]),
            };
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            PrintUsage(Console.Error);
            return 2;
        }
    }

    private static int UnknownCommand(string name)
    {
        Console.Error.WriteLine($"error: unknown benchmark \"{name}\".");
        PrintUsage(Console.Error);
        return 2;
    }

    private static void PrintUsage(TextWriter writer)
    {
        writer.WriteLine("usage: Indexer.Benchmarks <benchmark> [options]");
        writer.WriteLine();
        writer.WriteLine("benchmarks:");
        writer.WriteLine($"  search   {SearchBenchmark.Usage}");
        writer.WriteLine($"  {PipelineBenchmark.EmbedUsage}");
        writer.WriteLine($"  {PipelineBenchmark.IngestUsage}");
        writer.WriteLine($"  {RolloutBenchmark.Usage}");
        writer.WriteLine($"  {RolloutBenchmark.MapUsage}");
        writer.WriteLine($"  {ClusterBenchmark.Usage}");
    }
}
