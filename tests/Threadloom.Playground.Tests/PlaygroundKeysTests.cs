using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Threadloom.Server.Auth;
using Threadloom.Testing;
using static Microsoft.Playwright.Assertions;

namespace Threadloom.Playground.Tests;

/// <summary>With real keys: the page asks for one and keeps it in session storage; the playground routes take the same key and scoping.</summary>
[Collection(BrowserCollection.Name)]
public sealed class PlaygroundKeysTests(BrowserFixture browser)
{
    static PlaygroundKeysTests() => SetDefaultExpectTimeout(30_000);

    [Fact]
    public async Task KeyAskedOnce_KeptInSessionStorage_AndPromptsAreProjectScoped()
    {
        await using var host = await PlaygroundHost.StartAsync(browser);
        var keys = host.Server.Services.GetRequiredService<ApiKeys>();
        var alice = (await keys.CreateAsync("alice", "k", CancellationToken.None)).Key;
        var bob = (await keys.CreateAsync("bob", "k", CancellationToken.None)).Key;
        using var aliceHttp = host.Server.CreateClient(alice);
        using var bobHttp = host.Server.CreateClient(bob);

        // A run of alice's, with its prompt recorded.
        host.Model.Enqueue(Reply.Text("Hi Alice."));
        var assistant = await ReadIdAsync(aliceHttp.PostAsync("assistants", Json("""{"model":"gpt-4o","name":"Alice's","instructions":"Be kind."}""")));
        var thread = await ReadIdAsync(aliceHttp.PostAsync("threads", Json("""{"messages":[{"role":"user","content":"hello"}]}""")));
        var run = await ReadIdAsync(aliceHttp.PostAsync($"threads/{thread}/runs", Json($$"""{"assistant_id":"{{assistant}}"}""")));
        var promptsPath = $"/playground/api/threads/{thread}/runs/{run}/prompts";
        string body;
        var attempts = 0;
        do
        {
            Assert.True(attempts++ < 600, "the run's prompt was never recorded");
            await Task.Delay(attempts == 1 ? 0 : 50);
            using var response = await aliceHttp.GetAsync(promptsPath);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            body = await response.Content.ReadAsStringAsync();
        }
        while (!body.Contains("\"turn\":1", StringComparison.Ordinal));
        Assert.Contains("Be kind.", body, StringComparison.Ordinal);
        using (var other = await bobHttp.GetAsync(promptsPath))
        {
            Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        }
        using (var anonymous = await new HttpClient().GetAsync(new Uri(host.Server.BaseAddress, promptsPath)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
        using (var render = await new HttpClient().PostAsync(new Uri(host.Server.BaseAddress, "/playground/api/render"), Json("""{"items":[{"text":"x"}]}""")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, render.StatusCode);
        }

        // The page asks for a key, keeps it in sessionStorage only, and then lists that project's assistants.
        var page = host.Page;
        await page.GotoAsync(host.PlaygroundUrl);
        var dialog = page.Locator("#key-dialog");
        await Expect(dialog).ToBeVisibleAsync();
        await host.ScreenshotAsync("key-dialog", fullPage: false);
        await page.GetByLabel("Key for this server").FillAsync(alice);
        await page.GetByRole(AriaRole.Button, new() { Name = "Use key" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "Alice's" })).ToBeVisibleAsync();
        await Expect(page.Locator("#auth-state")).ToHaveTextAsync("key set");
        Assert.Equal(alice, await page.EvaluateAsync<string>("() => sessionStorage.getItem('threadloom.playground.key')"));
        Assert.Null(await page.EvaluateAsync<string?>("() => localStorage.getItem('threadloom.playground.key')"));
        Assert.DoesNotContain(alice, page.Url, StringComparison.Ordinal);

        // The inspector shows alice's prompt; bob's key would not find it.
        await host.GoAsync($"#/threads/{thread}/runs/{run}");
        await Expect(page.Locator("#prompts details.prompt")).ToContainTextAsync("Be kind.");
        Assert.Empty(host.PageErrors);
    }

    private static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    private static async Task<string> ReadIdAsync(Task<HttpResponseMessage> call)
    {
        using var response = await call;
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return System.Text.Json.JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }
}
