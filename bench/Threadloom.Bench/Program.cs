using Threadloom.Bench.Cluster;
using Threadloom.Bench.FileSearch;
using Threadloom.Bench.Foundation;
using Threadloom.Bench.Runs;
using Threadloom.Bench.Sandbox;
using Threadloom.Bench.Storage;

// dotnet run -c Release --project bench/Threadloom.Bench -- [foundation|sandbox|filesearch|runs|storage|cluster|all|retrieval [--throughput]|ingestion|pgprobe [clients] [runs]]
// storage and cluster need PostgreSQL with pgvector: eval "$(bash .ci/postgres.sh | tail -1)" (THREADLOOM_BENCH_CHUNKS: storage sizes, default 100000,1000000).
// Prints a markdown report; docs/benchmarks.md records the results.
var which = args.Length > 0 ? args[0] : "all";
var sections = new List<string>
{
    $"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}; date {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC",
};
if (which is "pgprobe")
{
    // Statements per run on PostgreSQL, one node in-process: -- pgprobe [clients=16] [runs=1000]
    var clients = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 16;
    var runs = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 1000;
    sections.Add(await StatementProbe.RunAsync(clients, runs, CancellationToken.None));
}
if (which is "ingestion")
{
    sections.Add(await IngestionThroughputBenchmark.RunAsync(CancellationToken.None));
}
if (which is "foundation" or "all")
{
    sections.Add(await FoundationBenchmark.RunAsync(CancellationToken.None));
}
if (which is "sandbox" or "all")
{
    sections.Add(await SandboxBenchmark.RunAsync(CancellationToken.None));
}
if (which is "filesearch" or "all")
{
    sections.Add(await FileSearchBenchmark.RunAsync(CancellationToken.None));
}
if (which is "retrieval")
{
    sections.Add(await RetrievalBenchmark.RunAsync(args.Skip(1).ToList(), CancellationToken.None));
}
if (which is "runs" or "all")
{
    sections.Add(await RunsBenchmark.RunAsync(CancellationToken.None));
}
if (which is "storage" or "all")
{
    sections.Add(await StorageBenchmark.RunAsync(CancellationToken.None));
}
if (which is "cluster" or "all")
{
    sections.Add(await ClusterBenchmark.RunAsync(CancellationToken.None));
}
Console.WriteLine(string.Join("\n\n", sections));
