using Threadloom.Bench.FileSearch;
using Threadloom.Bench.Foundation;
using Threadloom.Bench.Runs;
using Threadloom.Bench.Sandbox;

// dotnet run -c Release --project bench/Threadloom.Bench -- [foundation|sandbox|filesearch|runs|all]
// Prints a markdown report; docs/benchmarks.md records the results.
var which = args.Length > 0 ? args[0] : "all";
var sections = new List<string>
{
    $"Machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}; date {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC",
};
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
if (which is "runs" or "all")
{
    sections.Add(await RunsBenchmark.RunAsync(CancellationToken.None));
}
Console.WriteLine(string.Join("\n\n", sections));
