using Microsoft.Playwright;
using Threadloom.Testing;
using static Microsoft.Playwright.Assertions;

namespace Threadloom.Playground.Tests;

/// <summary>The main flow, in a real browser: an assistant with a function, a streamed chat, requires_action, the inspector.</summary>
[Collection(BrowserCollection.Name)]
public sealed class FunctionFlowTests(BrowserFixture browser)
{
    static FunctionFlowTests() => SetDefaultExpectTimeout(30_000);

    [Fact]
    public async Task CreateAssistantWithFunction_Chat_StreamGrows_AnswerRequiresAction_InspectRun()
    {
        await using var host = await PlaygroundHost.StartAsync(browser);
        var page = host.Page;

        // / redirects to /playground, which opens on the (empty) list of assistants.
        await host.OpenAsync();
        Assert.EndsWith("/playground/", new Uri(page.Url).GetLeftPart(UriPartial.Path), StringComparison.Ordinal);
        await Expect(page.Locator("main h1")).ToHaveTextAsync("Assistants");
        await Expect(page.GetByText("No assistants yet")).ToBeVisibleAsync();
        await Expect(page.Locator("#auth-state")).ToHaveTextAsync("dev mode");

        // Create the assistant with a function, through the form.
        await page.GetByRole(AriaRole.Link, new() { Name = "New assistant" }).ClickAsync();
        await page.GetByLabel("Name").FillAsync("Weather helper");
        await page.GetByLabel("Instructions").FillAsync("You answer questions about the weather. Call get_weather first.");
        await Expect(page.Locator("#a-model option")).ToHaveCountAsync(2);
        await page.Locator("#a-model").SelectOptionAsync("gpt-4o-mini");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add function" }).ClickAsync();
        await Expect(page.Locator("#fn-0")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("get_weather"));
        await host.ScreenshotAsync("assistant-editor");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(page.Locator("main .id").First).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^asst_"));
        var assistants = await host.ApiAsync(HttpMethod.Get, "assistants");
        var assistant = Assert.Single(assistants.GetProperty("data").EnumerateArray());
        Assert.Equal("Weather helper", assistant.GetProperty("name").GetString());
        Assert.Equal("gpt-4o-mini", assistant.GetProperty("model").GetString());
        Assert.Equal("get_weather", assistant.GetProperty("tools")[0].GetProperty("function").GetProperty("name").GetString());

        await host.GoAsync("#/assistants");
        await Expect(page.GetByRole(AriaRole.Cell, new() { Name = "get_weather" })).ToBeVisibleAsync();
        await host.ScreenshotAsync("assistants");

        // Chat: the model calls the function, then streams its answer, held mid-stream until the DOM was read.
        var release = new TaskCompletionSource();
        const string answer = "It is sunny in Paris today, 21 degrees. Enjoy a walk along the Seine!";
        host.Model.Enqueue(
            Reply.ToolCalls(new ScriptedToolCall("get_weather", """{"city":"Paris"}""", "call_weather")),
            Reply.Text(answer, chunkSize: 3).HoldAfter(6, release.Task));
        await page.GetByRole(AriaRole.Button, new() { Name = "Chat" }).ClickAsync();
        await page.GetByLabel("Message").FillAsync("What is the weather in Paris?");
        await page.GetByLabel("Message").PressAsync("Enter");

        // requires_action: the call's arguments, and a form for its output.
        var action = page.GetByRole(AriaRole.Form, new() { Name = "Submit tool outputs" });
        await Expect(action).ToBeVisibleAsync();
        await Expect(action.Locator("pre")).ToContainTextAsync("\"city\": \"Paris\"");
        await host.ScreenshotAsync("requires-action");
        await action.GetByLabel("Output of get_weather").FillAsync("""{"forecast":"sunny","celsius":21}""");
        await action.GetByRole(AriaRole.Button, new() { Name = "Submit outputs" }).ClickAsync();

        // The reply grows token by token: part of it is in the DOM while the model still holds the rest.
        var reply = page.Locator("li.msg.assistant .body").Last;
        await Expect(reply).ToContainTextAsync("It is sun");
        var partial = await reply.InnerTextAsync();
        Assert.StartsWith("It is sun", partial, StringComparison.Ordinal);
        Assert.DoesNotContain("Seine", partial, StringComparison.Ordinal);
        Assert.True(partial.Length < answer.Length, partial);
        await host.ScreenshotAsync("chat-streaming");
        release.SetResult();
        await Expect(reply).ToHaveTextAsync(answer);
        await Expect(page.Locator(".run-footer .status.completed").Last).ToBeVisibleAsync();
        // The function step shows its output once the run is done.
        await Expect(page.Locator("details.function-call").Last).ToContainTextAsync("sunny");
        await host.ScreenshotAsync("chat");

        // The model got the output the form submitted.
        var second = host.Model.ChatRequests[1].Body;
        Assert.Contains("sunny", second.GetProperty("messages").ToString(), StringComparison.Ordinal);

        // The run inspector: timeline, the function step, and the prompt as the model received it.
        await page.GetByRole(AriaRole.Link, new() { Name = "Inspect run" }).Last.ClickAsync();
        await Expect(page.Locator("main h1").First).ToContainTextAsync("Run");
        await Expect(page.Locator("#timeline")).ToContainTextAsync("tool calls: function get_weather");
        await Expect(page.Locator("#timeline")).ToContainTextAsync("model call 2 sent");
        await Expect(page.Locator("#steps tr[data-step-type=tool_calls]")).ToHaveCountAsync(1);
        await Expect(page.Locator("#steps tr[data-step-type=message_creation]")).ToHaveCountAsync(1);
        await Expect(page.Locator("details.function-call")).ToContainTextAsync("get_weather");
        var prompts = page.Locator("#prompts details.prompt");
        await Expect(prompts).ToHaveCountAsync(2);
        await Expect(prompts.Nth(1)).ToContainTextAsync("You answer questions about the weather.");
        await Expect(prompts.Nth(1)).ToContainTextAsync("← call_weather: {\"forecast\":\"sunny\",\"celsius\":21}");
        await Expect(prompts.Nth(1)).ToContainTextAsync("What is the weather in Paris?");
        await Expect(prompts.Nth(1).Locator("pre.json").Last).ToContainTextAsync("\"get_weather\"");
        await host.ScreenshotAsync("run-inspector");
        Assert.Empty(host.PageErrors);
    }
}
