using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Threadloom.Testing;

namespace Threadloom.Playground.Tests;

/// <summary>One Chromium for the whole test run: Debian's <c>/usr/bin/chromium</c>, never a downloaded browser.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public static readonly string[] ChromiumFlags =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    public IPlaywright Playwright { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ChromiumFlags,
        });
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        Playwright.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}

/// <summary>
/// A real Threadloom server (dev mode, loopback, real sandbox and embeddings) whose model is a
/// <see cref="ScriptedModelServer"/>, and a browser page on its playground.
/// </summary>
public sealed class PlaygroundHost : IAsyncDisposable
{
    public const long MaxUploadBytes = 64 * 1024;

    private readonly List<string> _pageErrors = [];
    private readonly string _workRoot;

    private PlaygroundHost(ScriptedModelServer model, ThreadloomServer server, IBrowserContext context, IPage page, string workRoot)
    {
        Model = model;
        Server = server;
        Context = context;
        Page = page;
        _workRoot = workRoot;
        Http = server.CreateClient("sk-playground-test");
        page.PageError += (_, error) => { lock (_pageErrors) { _pageErrors.Add(error); } };
    }

    public ScriptedModelServer Model { get; }

    public ThreadloomServer Server { get; }

    public IBrowserContext Context { get; }

    public IPage Page { get; }

    public HttpClient Http { get; }

    public string PlaygroundUrl => new Uri(Server.BaseAddress, "playground/").ToString();

    public static string ScreenshotDirectory { get; } = Path.Combine(RepoPaths.Root, "artifacts", "screenshots");

    public static async Task<PlaygroundHost> StartAsync(BrowserFixture browser, IDictionary<string, string?>? settings = null, int width = 1280, int height = 900)
    {
        var model = await ScriptedModelServer.StartAsync();
        var workRoot = Path.Combine(Path.GetTempPath(), "tl-pg-sbx-" + Guid.NewGuid().ToString("N"));
        var all = new Dictionary<string, string?>
        {
            ["Inference:Providers:default:BaseUrl"] = model.OpenAIBaseAddress.ToString(),
            ["Inference:Providers:default:ApiKey"] = "test-key",
            ["Inference:Models:0:Name"] = "gpt-4o",
            ["Inference:Models:0:Provider"] = "default",
            ["Inference:Models:0:Model"] = "scripted-model",
            ["Inference:Models:1:Name"] = "gpt-4o-mini",
            ["Inference:Models:1:Provider"] = "default",
            ["Inference:Models:1:Model"] = "scripted-model",
            ["Inference:MaxRetries"] = "1",
            ["Files:MaxUploadBytes"] = MaxUploadBytes.ToString(CultureInfo.InvariantCulture),
            ["Runs:SweepInterval"] = "00:00:00.050",
            ["IngestionWorker:SweepInterval"] = "00:00:00.100",
            ["CodeInterpreter:WorkRoot"] = workRoot,
            ["CodeInterpreter:HostUidBase"] = (1_000_000_000 + (Random.Shared.Next(0, 14_000) * 1024)).ToString(CultureInfo.InvariantCulture),
            ["CodeInterpreter:HostUidCount"] = "1024",
            ["CodeInterpreter:WarmPoolSize"] = "0",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }
        var server = await ThreadloomServer.StartAsync(all);
        var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height },
            AcceptDownloads = true,
        });
        context.SetDefaultTimeout(30_000);
        var page = await context.NewPageAsync();
        return new PlaygroundHost(model, server, context, page, workRoot);
    }

    /// <summary>Opens <c>/</c>, which redirects to the playground, and waits for the assistants list.</summary>
    public async Task OpenAsync(string hash = "")
    {
        await Page.GotoAsync(new Uri(Server.BaseAddress, "/").ToString() + hash);
        await Page.Locator("main h1").First.WaitForAsync();
    }

    public async Task GoAsync(string hash)
    {
        await Page.EvaluateAsync("h => { location.hash = h; }", hash);
        await Page.Locator("main h1").First.WaitForAsync();
    }

    public Task ScreenshotAsync(string name, bool fullPage = true)
    {
        Directory.CreateDirectory(ScreenshotDirectory);
        return Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = fullPage });
    }

    /// <summary>Uncaught script errors in the page so far (a test asserts there are none).</summary>
    public IReadOnlyList<string> PageErrors
    {
        get
        {
            lock (_pageErrors)
            {
                return [.. _pageErrors];
            }
        }
    }

    public async Task<JsonElement> ApiAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<string> UploadAsync(string fileName, byte[] content)
    {
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" } };
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        using var response = await Http.PostAsync("files", form);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    public async ValueTask DisposeAsync()
    {
        await Context.DisposeAsync();
        Http.Dispose();
        await Server.DisposeAsync();
        await Model.DisposeAsync();
        try
        {
            if (Directory.Exists(_workRoot))
            {
                Directory.Delete(_workRoot, recursive: true);
            }
        }
        catch (IOException)
        {
            // The sandbox may still hold a session folder briefly; the temp folder is cleaned by the OS.
        }
        catch (UnauthorizedAccessException)
        {
            // Files written by the sandbox uid; left to the OS.
        }
    }
}
