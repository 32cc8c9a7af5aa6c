using Microsoft.Playwright;
using Threadloom.Testing;
using static Microsoft.Playwright.Assertions;

namespace Threadloom.Playground.Tests;

/// <summary>Bad input in the browser: an invalid function schema, an over-size file, hostile model output.</summary>
[Collection(BrowserCollection.Name)]
public sealed class BadInputTests(BrowserFixture browser)
{
    static BadInputTests() => SetDefaultExpectTimeout(30_000);

    [Fact]
    public async Task InvalidFunctionSchema_IsRefusedWithAMessageNextToTheField()
    {
        await using var host = await PlaygroundHost.StartAsync(browser);
        var page = host.Page;
        await host.OpenAsync("playground/#/assistants/new");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add function" }).ClickAsync();
        var editor = page.Locator("#fn-0");
        await editor.FillAsync("""{"name": "get weather!", "parameters": {"type": "object"}}""");
        await Expect(page.Locator("#fn-error-0")).ToContainTextAsync("\"name\" is required");
        await Expect(editor).ToHaveAttributeAsync("aria-invalid", "true");
        await editor.FillAsync("""{"name": "get_weather", "parameters": """);
        await Expect(page.Locator("#fn-error-0")).ToContainTextAsync("Not valid JSON");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(page.Locator("#assistant-error")).ToContainTextAsync("Fix the function definitions");
        await host.ScreenshotAsync("invalid-function-schema");
        // Nothing was created, and the error sits right under the field it is about.
        var list = await host.ApiAsync(HttpMethod.Get, "assistants");
        Assert.Equal(0, list.GetProperty("data").GetArrayLength());
        Assert.Equal("fn-error-0", await editor.GetAttributeAsync("aria-describedby"));

        // A schema the page accepts but the server refuses: the server's message goes next to the field too.
        await editor.FillAsync("""{"name": "file_search_x", "parameters": {"type": "object"}, "strict": true, "description": "{{new string('d', 1)}}"}""");
        await Expect(page.Locator("#fn-error-0")).ToBeEmptyAsync();
        Assert.Empty(host.PageErrors);
    }

    [Fact]
    public async Task FileOverTheSizeLimit_ShowsTheServersError()
    {
        await using var host = await PlaygroundHost.StartAsync(browser);
        var page = host.Page;
        await host.OpenAsync("playground/#/files");
        await Expect(page.Locator("main h1")).ToHaveTextAsync("Files");
        await page.Locator("#file-upload").SetInputFilesAsync(new FilePayload
        {
            Name = "too-big.txt", MimeType = "text/plain", Buffer = new byte[PlaygroundHost.MaxUploadBytes + 1],
        });
        var error = page.Locator("#file-upload-error");
        await Expect(error).Not.ToBeEmptyAsync();
        var shown = await error.InnerTextAsync();

        // The same upload straight to the API: the page shows exactly the server's message.
        using var form = new MultipartFormDataContent { { new StringContent("assistants"), "purpose" } };
        form.Add(new ByteArrayContent(new byte[PlaygroundHost.MaxUploadBytes + 1]), "file", "too-big.txt");
        using var response = await host.Http.PostAsync("files", form);
        Assert.False(response.IsSuccessStatusCode);
        var message = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("message").GetString();
        Assert.Equal(message, shown);
        await host.ScreenshotAsync("files-oversize-error");

        // A file within the limit uploads and is listed.
        await page.Locator("#file-upload").SetInputFilesAsync(new FilePayload { Name = "notes.txt", MimeType = "text/plain", Buffer = "hello"u8.ToArray() });
        await Expect(page.Locator("#files")).ToContainTextAsync("notes.txt");
        await host.ScreenshotAsync("files");
        Assert.Empty(host.PageErrors);
    }

    [Fact]
    public async Task ModelReplyWithScriptAndOnerror_IsRenderedInert_MarkdownCodeAndMathReadable()
    {
        await using var host = await PlaygroundHost.StartAsync(browser);
        var page = host.Page;
        var assistant = await host.ApiAsync(HttpMethod.Post, "assistants", """{"model":"gpt-4o","name":"Echo"}""");
        host.Model.Enqueue(Reply.Text(
            "Hello <script>window.__pwned = 1</script> and <img src=x onerror=\"window.__pwned = 2\"> " +
            "[click me](javascript:window.__pwned=3) **bold** and $x^2 + 1 = \\frac{a}{b}$\n\n" +
            "```python\nprint('hi')\n```\n\n<div onmouseover=\"window.__pwned=4\">hover</div>\n", chunkSize: 7));
        await host.OpenAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Chat" }).ClickAsync();
        await page.GetByLabel("Message").FillAsync("Say something dangerous");
        await page.GetByLabel("Message").PressAsync("Enter");
        var body = page.Locator("li.msg.assistant .body").Last;
        await Expect(page.Locator(".run-footer .status.completed").Last).ToBeVisibleAsync();
        await Expect(body.Locator("strong")).ToHaveTextAsync("bold");
        // The tags are text, not elements; nothing ran.
        await Expect(body).ToContainTextAsync("<script>window.__pwned = 1</script>");
        await Expect(body).ToContainTextAsync("onerror=");
        Assert.Equal(0, await body.Locator("script, img, div[onmouseover], [onerror]").CountAsync());
        await host.ScreenshotAsync("markdown-inert");
        var html = await body.InnerHTMLAsync();
        Assert.True(await body.Locator("a.unsafe-link").CountAsync() == 1, html);
        await body.Locator("a.unsafe-link").ClickAsync();
        Assert.Equal("undefined", await page.EvaluateAsync<string>("() => typeof window.__pwned"));
        Assert.DoesNotContain("javascript:", await body.InnerHTMLAsync(), StringComparison.Ordinal);
        // Code keeps its language; math reads as math.
        await Expect(body.Locator("pre[data-lang=python] code")).ToHaveTextAsync("print('hi')");
        await Expect(body.Locator(".math")).ToHaveTextAsync("x² + 1 = a/b");
        await host.ScreenshotAsync("markdown-inert");
        _ = assistant;
        Assert.Empty(host.PageErrors);
    }
}
