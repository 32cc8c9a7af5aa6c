using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Core.Ingestion;
using Threadloom.Server.Auth;
using Threadloom.Server.Tests.FileSearch;
using Xunit.Abstractions;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>One server for the document hostile suite: two projects with keys, budgets tightened so bombs fail fast.</summary>
public sealed class DocumentHostileFixture : IAsyncLifetime
{
    internal FileSearchServer Server { get; private set; } = null!;

    public HttpClient Attacker { get; private set; } = null!;

    public HttpClient Victim { get; private set; } = null!;

    public List<double> ModelsLatenciesMs { get; } = [];

    public async Task InitializeAsync()
    {
        Server = await FileSearchServer.StartAsync(null, false,
            "--Ingestion:MaxCpuTime", "00:00:04",
            "--Ingestion:WorkerMemoryBytes", (256L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Ingestion:MaxPages", "1000",
            "--IngestionWorker:MaxConcurrentFiles", "2");
        var keys = Server.Services.GetRequiredService<ApiKeys>();
        Attacker = Client((await keys.CreateAsync("attacker", "k", CancellationToken.None)).Key);
        Victim = Client((await keys.CreateAsync("victim", "k", CancellationToken.None)).Key);
    }

    private HttpClient Client(string key)
    {
        var http = new HttpClient { BaseAddress = Server.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return http;
    }

    public async Task DisposeAsync()
    {
        Attacker.Dispose();
        Victim.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>
/// Issue #9 §2: each hostile document fails its own file with a clear <c>last_error</c>, while another project's small
/// file ingests to <c>completed</c> and <c>GET /v1/models</c> keeps answering. Every bomb is generated at run time.
/// </summary>
public sealed class DocumentHostileTests(DocumentHostileFixture fixture, ITestOutputHelper output)
    : DocumentHostileTestBase(fixture, output), IClassFixture<DocumentHostileFixture>
{
    [Fact]
    public Task DeeplyNestedJson_FailsOnDepth() =>
        AssertContainedAsync("nested.json", DocumentBombs.DeeplyNestedJson(), "invalid_file", "Ingestion:MaxNestingDepth", inWorker: false);

    [Fact]
    public async Task NoSpaces300KB_IsIndexedInLinearTime()
    {
        var (bad, _) = await RunAsync("word.txt", DocumentBombs.NoSpaces());
        Assert.Equal("completed", bad.GetProperty("status").GetString());
    }

    [Fact]
    public Task ThousandsOfDuplicatedPages_FailOnPages() =>
        AssertContainedAsync("pages.pdf", DocumentBombs.DuplicatedPages(3000), "invalid_file", "Ingestion:MaxPages", inWorker: true);

    [Fact]
    public async Task GlyphsAtOneSpot_AreBoundedByTheCpuBudget()
    {
        var (bad, _) = await RunAsync("glyphs.pdf", DocumentBombs.GlyphsAtOneSpot());
        // Either the layout analysis finishes within the budget, or the worker is stopped at it: never a wedge.
        var status = bad.GetProperty("status").GetString();
        Assert.True(status == "completed" || (status == "failed" && bad.GetProperty("last_error").GetProperty("message").GetString()!.Contains("Ingestion:MaxCpuTime")), bad.ToString());
    }

    [Theory]
    [InlineData(".docx")]
    [InlineData(".xlsx")]
    [InlineData(".pptx")]
    public Task OfficeZipBomb_FailsOnCompressionRatio_BeforeInflating(string extension) =>
        AssertContainedAsync("bomb" + extension, DocumentBombs.OfficeZipBomb(extension), "invalid_file", "Ingestion:MaxCompressionRatio", inWorker: true);

}

/// <summary>
/// The flate bomb measures the test host's peak RSS, so it runs alone: a test class running beside it (an embedding
/// model loading, a sandbox's output buffered) once grew the shared peak by 223 MiB and failed it on CI.
/// </summary>
[Collection(RunsAlone.Name)]
public sealed class PdfFlateBombTests(DocumentHostileFixture fixture, ITestOutputHelper output)
    : DocumentHostileTestBase(fixture, output), IClassFixture<DocumentHostileFixture>
{
    [Fact]
    public async Task PdfFlateBomb_DiesInTheWorker_NotTheServer()
    {
        var bomb = DocumentBombs.FlateBomb();
        // Warm up first (the embedding model loads on the first ingestion), so the peak measures the bomb alone.
        var (warm, _) = await RunAsync("warm.pdf", DocumentBombs.DuplicatedPages(2));
        Assert.Equal("completed", warm.GetProperty("status").GetString());
        var before = PeakRssBytes();
        // The heap cap normally ends it; on a heavily loaded machine the worker's wall clock can come first. Both are bounded.
        await AssertContainedAsync("flate.pdf", bomb, "invalid_file", "Ingestion:WorkerMemoryBytes|Ingestion:MaxCpuTime", inWorker: true);
        var after = PeakRssBytes();
        Output.WriteLine($"test host peak RSS before {before / (1024 * 1024)} MiB, after {after / (1024 * 1024)} MiB (bomb inflates to 700 MiB)");
        // The 700 MiB never reached the server's heap (the in-process server's own allocations leave a margin).
        Assert.True(after - before < 200L * 1024 * 1024, $"peak RSS grew by {(after - before) / (1024 * 1024)} MiB");
    }

}

/// <summary>A collection xunit runs after every parallel one, with nothing beside it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "runs alone";
}

/// <summary>Uploads a hostile file beside a victim's small one and checks what each ended as.</summary>
public abstract class DocumentHostileTestBase(DocumentHostileFixture fixture, ITestOutputHelper output)
{
    protected ITestOutputHelper Output => output;

    protected async Task AssertContainedAsync(string name, byte[] bytes, string code, string key, bool inWorker)
    {
        var workers = IsolatedTextExtractor.WorkersStarted;
        var (bad, _) = await RunAsync(name, bytes);
        Assert.Equal("failed", bad.GetProperty("status").GetString());
        var error = bad.GetProperty("last_error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        var message = error.GetProperty("message").GetString()!;
        Assert.True(key.Split('|').Any(k => message.Contains(k, StringComparison.Ordinal)), $"'{message}' names none of {key}");
        if (inWorker)
        {
            Assert.True(IsolatedTextExtractor.WorkersStarted > workers, "the document was not parsed in a worker process");
        }
    }

    /// <summary>The attacker's file and the victim's file are added at once; the victim's must complete while /models answers.</summary>
    protected async Task<(JsonElement Bad, JsonElement Victim)> RunAsync(string name, byte[] bytes)
    {
        var clock = Stopwatch.StartNew();
        var badFile = await UploadAsync(fixture.Attacker, name, bytes);
        var badStore = await CreateStoreAsync(fixture.Attacker, badFile);
        var victimFile = await UploadAsync(fixture.Victim, "notes.txt", Encoding.UTF8.GetBytes("Quarterly notes: the blue team shipped the parser on time."));
        var victimStore = await CreateStoreAsync(fixture.Victim, victimFile);

        using var stop = new CancellationTokenSource();
        var probe = ProbeModelsAsync(stop.Token);
        var victim = await WaitAsync(fixture.Victim, victimStore, victimFile);
        var bad = await WaitAsync(fixture.Attacker, badStore, badFile);
        await stop.CancelAsync();
        var (answered, failures, latencies) = await probe;
        lock (fixture.ModelsLatenciesMs)
        {
            fixture.ModelsLatenciesMs.AddRange(latencies);
        }
        latencies.Sort();
        output.WriteLine($"{name}: {bad.GetProperty("status")} {(bad.TryGetProperty("last_error", out var e) ? e.ToString() : "")} after {clock.Elapsed.TotalSeconds:0.0} s; " +
            $"GET /models answered {answered} times, p50 {Percentile(latencies, 0.5):0.0} ms, p99 {Percentile(latencies, 0.99):0.0} ms, max {(latencies.Count > 0 ? latencies[^1] : 0):0.0} ms");

        Assert.Equal("completed", victim.GetProperty("status").GetString());
        Assert.Equal(0, failures);
        Assert.True(answered > 0);
        return (bad, victim);
    }

    private async Task<(int Answered, int Failures, List<double> Latencies)> ProbeModelsAsync(CancellationToken stop)
    {
        var latencies = new List<double>();
        var failures = 0;
        do
        {
            var clock = Stopwatch.StartNew();
            try
            {
                using var response = await fixture.Victim.GetAsync("models", CancellationToken.None);
                latencies.Add(clock.Elapsed.TotalMilliseconds);
                failures += response.StatusCode == HttpStatusCode.OK ? 0 : 1;
            }
            catch (HttpRequestException)
            {
                failures++;
            }
            catch (TaskCanceledException)
            {
                failures++; // the client's 30 s timeout: the server stalled
            }
            try
            {
                await Task.Delay(50, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        while (!stop.IsCancellationRequested);
        return (latencies.Count, failures, latencies);
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    protected static long PeakRssBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        return 0;
    }

    private static async Task<string> UploadAsync(HttpClient http, string name, byte[] bytes)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent("assistants"), "purpose");
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", name);
        using var response = await http.PostAsync("files", form);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    private static async Task<string> CreateStoreAsync(HttpClient http, string fileId)
    {
        using var response = await http.PostAsync("vector_stores", new StringContent($$"""{"file_ids":["{{fileId}}"]}""", Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    private static async Task<JsonElement> WaitAsync(HttpClient http, string storeId, string fileId)
    {
        // Only a guard against a wedged job: the 300 KB word costs hundreds of model windows, which took 2 min 47 s
        // on a machine at load 15-20, so the guard leaves room for a loaded CI machine.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        while (true)
        {
            using var response = await http.GetAsync($"vector_stores/{storeId}/files/{fileId}", timeout.Token);
            var text = await response.Content.ReadAsStringAsync(timeout.Token);
            Assert.True(response.IsSuccessStatusCode, text);
            var body = JsonDocument.Parse(text).RootElement.Clone();
            if (body.GetProperty("status").GetString() != "in_progress")
            {
                return body;
            }
            await Task.Delay(100, timeout.Token);
        }
    }
}
