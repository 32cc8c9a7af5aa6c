using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Threadloom.Testing;
using static Microsoft.Playwright.Assertions;

namespace Threadloom.Playground.Tests;

/// <summary>File search in the browser: a vector store's ingestion, the retrieved passages, a citation that opens its quote.</summary>
[Collection(BrowserCollection.Name)]
public sealed partial class CitationFlowTests(BrowserFixture browser)
{
    static CitationFlowTests() => SetDefaultExpectTimeout(120_000);

    [Fact]
    public async Task Citation_IsClickable_AndShowsTheQuotedPassage()
    {
        await using var host = await PlaygroundHost.StartAsync(browser);
        var page = host.Page;
        var text = await File.ReadAllTextAsync(RepoPaths.ScenarioData("HR/contoso-401k.txt"));
        var fileId = await host.UploadAsync("contoso-401k.txt", System.Text.Encoding.UTF8.GetBytes(text));
        var store = await host.ApiAsync(HttpMethod.Post, "vector_stores", $$"""{"name":"HR docs","file_ids":["{{fileId}}"]}""");
        var storeId = store.GetProperty("id").GetString()!;

        // The store page shows ingestion and file_counts as they change, until the file is indexed.
        await host.OpenAsync($"playground/#/vector_stores/{storeId}");
        await Expect(page.Locator("#vs-counts")).ToContainTextAsync("1 done");
        await Expect(page.Locator("#vs-files .status.completed")).ToBeVisibleAsync();
        await host.ScreenshotAsync("vector-store");

        await host.ApiAsync(HttpMethod.Post, "assistants",
            """{"model":"gpt-4o","name":"HR bot","tools":[{"type":"file_search"}],"tool_resources":{"file_search":{"vector_store_ids":[""" + $"\"{storeId}\"" + "]}}}");
        host.Model.Enqueue(Reply.ToolCalls(new ScriptedToolCall("file_search", """{"queries":["401k matching"]}""", "call_fs")));
        host.Model.RespondWith(request =>
        {
            var output = request.Messages.Last(m => m.GetProperty("role").GetString() == "tool").GetProperty("content").ToString();
            var marker = MarkerPattern().Match(output).Value;
            return Reply.Text($"The plan matches your contributions {marker}.");
        });
        await host.GoAsync("#/assistants");
        await page.GetByRole(AriaRole.Button, new() { Name = "Chat" }).ClickAsync();
        await page.GetByLabel("Message").FillAsync("How does the 401k matching work?");
        await page.GetByLabel("Message").PressAsync("Enter");

        var cite = page.Locator("li.msg.assistant button.cite").Last;
        await Expect(cite).ToHaveTextAsync("[1]");
        await Expect(page.Locator("details.search-call .passage").First).Not.ToBeEmptyAsync();
        await cite.ClickAsync();
        var dialog = page.Locator("#cite-dialog");
        await Expect(dialog).ToBeVisibleAsync();
        await Expect(dialog).ToContainTextAsync("contoso-401k.txt");
        var quote = (await page.Locator("#cite-quote").InnerTextAsync()).Trim();
        Assert.True(quote.Length > 20, quote);
        Assert.Contains(quote[..20], text, StringComparison.Ordinal);
        await Expect(dialog).Not.ToContainTextAsync("null");
        await host.ScreenshotAsync("citation", fullPage: false);
        await page.Keyboard.PressAsync("Escape");
        await Expect(dialog).ToBeHiddenAsync();
        Assert.Empty(host.PageErrors);
    }

    [GeneratedRegex("【\\d+:\\d+†[^】]+】")]
    private static partial Regex MarkerPattern();
}
