using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Threadloom.Server.Auth;
using Threadloom.Server.Tests.FileSearch;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>
/// Issue #9 §2, the queue: a file that crashes the extraction worker twice is failed and not claimed again, and
/// deleting a file whose job is running kills its worker and frees the slot for the next job at once.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class IngestionQueueHostileTests
{
    [Fact]
    public async Task WorkerCrashingTwice_FailsTheFile_AnotherProjectStillIngests()
    {
        // A worker that dies at once, whatever it is given: the file's two attempts both crash it.
        await using var server = await FileSearchServer.StartAsync(null, false, "--Ingestion:WorkerPath", "/bin/false");
        var (attacker, victim) = await ProjectsAsync(server);
        var bad = await AddAsync(attacker, "crash.pdf", DocumentBombs.DuplicatedPages(1));
        var good = await AddAsync(victim, "notes.txt", "Plain notes are decoded in the server, no worker needed."u8.ToArray());

        var failed = await WaitAsync(attacker, bad, TimeSpan.FromMinutes(2));
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Equal("server_error", failed.GetProperty("last_error").GetProperty("code").GetString());
        Assert.Contains("crashed the extraction worker 2 times", failed.GetProperty("last_error").GetProperty("message").GetString());
        Assert.Equal("completed", (await WaitAsync(victim, good, TimeSpan.FromMinutes(2))).GetProperty("status").GetString());
        using var models = await victim.GetAsync("models");
        Assert.True(models.IsSuccessStatusCode);
    }

    [Fact]
    public async Task DeletingARunningFile_KillsItsWorker_AndTheNextJobStartsAtOnce()
    {
        var script = Path.Combine(Path.GetTempPath(), $"threadloom-hang-{Guid.NewGuid():N}.sh");
        await File.WriteAllTextAsync(script, "#!/bin/sh\nexec sleep 600\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            // One slot and a worker that hangs: only cancelling the job can free the slot before its 2-minute deadline.
            await using var server = await FileSearchServer.StartAsync(null, false,
                "--Ingestion:WorkerPath", script, "--Ingestion:MaxCpuTime", "00:01:00", "--IngestionWorker:MaxConcurrentFiles", "1");
            var (attacker, victim) = await ProjectsAsync(server);
            var (store, file) = await AddAsync(attacker, "hang.pdf", DocumentBombs.DuplicatedPages(1));
            await WaitUntilAsync(() => Sleepers() > 0, TimeSpan.FromSeconds(30));

            using var deleted = await attacker.DeleteAsync($"vector_stores/{store}/files/{file}");
            Assert.True(deleted.IsSuccessStatusCode);
            var good = await AddAsync(victim, "notes.txt", "The next job must not wait for the hung one."u8.ToArray());
            Assert.Equal("completed", (await WaitAsync(victim, good, TimeSpan.FromSeconds(60))).GetProperty("status").GetString());
            await WaitUntilAsync(() => Sleepers() == 0, TimeSpan.FromSeconds(10));
        }
        finally
        {
            File.Delete(script);
        }
    }

    private static int Sleepers()
    {
        var count = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (cmdline.StartsWith("sleep\0" + "600", StringComparison.Ordinal) && IsChildOfThisTest(dir))
                {
                    count++;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone or not ours.
            }
        }
        return count;
    }

    /// <summary>The script execs sleep, so the sleeper is a direct child of this test process (the in-process server launched it).</summary>
    private static bool IsChildOfThisTest(string dir)
    {
        var stat = File.ReadAllText(Path.Combine(dir, "stat"));
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) == Environment.ProcessId;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!condition())
        {
            await Task.Delay(100, cts.Token);
        }
    }

    private static async Task<(HttpClient Attacker, HttpClient Victim)> ProjectsAsync(FileSearchServer server)
    {
        var keys = server.Services.GetRequiredService<ApiKeys>();
        return (Client(server, (await keys.CreateAsync("attacker", "k", CancellationToken.None)).Key),
            Client(server, (await keys.CreateAsync("victim", "k", CancellationToken.None)).Key));
    }

    private static HttpClient Client(FileSearchServer server, string key)
    {
        var http = new HttpClient { BaseAddress = server.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        http.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return http;
    }

    private static async Task<(string Store, string File)> AddAsync(HttpClient http, string name, byte[] bytes)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent("assistants"), "purpose");
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(content, "file", name);
        using var upload = await http.PostAsync("files", form);
        var file = JsonDocument.Parse(await upload.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        using var created = await http.PostAsync("vector_stores", new StringContent($$"""{"file_ids":["{{file}}"]}""", Encoding.UTF8, "application/json"));
        var store = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        return (store, file);
    }

    private static async Task<JsonElement> WaitAsync(HttpClient http, (string Store, string File) job, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            using var response = await http.GetAsync($"vector_stores/{job.Store}/files/{job.File}", cts.Token);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cts.Token)).RootElement.Clone();
            if (body.GetProperty("status").GetString() != "in_progress")
            {
                return body;
            }
            await Task.Delay(100, cts.Token);
        }
    }
}
