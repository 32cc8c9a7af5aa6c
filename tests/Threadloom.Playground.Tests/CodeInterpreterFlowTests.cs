using System.Text.Json;
using Microsoft.Playwright;
using Threadloom.Testing;
using static Microsoft.Playwright.Assertions;

namespace Threadloom.Playground.Tests;

/// <summary>The code interpreter in the browser, with the real sandbox: the seed's Math Tutor, and a drawn image.</summary>
[Collection(BrowserCollection.Name)]
public sealed class CodeInterpreterFlowTests(BrowserFixture browser)
{
    static CodeInterpreterFlowTests() => SetDefaultExpectTimeout(60_000);

    private static ScriptedToolCall Code(string code, string id) => new("code_interpreter", $$"""{"code":{{JsonSerializer.Serialize(code)}}}""", id);

    [Fact]
    public async Task MathTutor_EntirelyInTheBrowser_ShowsCodeOutputAndAnswer()
    {
        await using var host = await PlaygroundHost.StartAsync(browser);
        var page = host.Page;
        await host.OpenAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "New assistant" }).ClickAsync();
        await page.GetByLabel("Name").FillAsync("Math Tutor");
        await page.GetByLabel("Instructions").FillAsync("You are a personal math tutor. Write and run code to answer math questions.");
        await page.GetByLabel("Code interpreter", new() { Exact = true }).CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(page.Locator("main .id").First).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^asst_"));

        host.Model.Enqueue(
            Reply.ToolCalls(Code("from sympy import symbols, Eq, solve\nx = symbols('x')\nprint(solve(Eq(3*x + 11, 14), x))", "call_math")),
            Reply.Text("The solution is $x = 1$: subtract 11 from both sides, then divide by 3."));
        await page.GetByRole(AriaRole.Button, new() { Name = "Chat with it" }).ClickAsync();
        await page.GetByLabel("Message").FillAsync("I need to solve the equation `3x + 11 = 14`. Can you help me?");
        await page.GetByLabel("Message").PressAsync("Enter");

        var call = page.Locator("details.code-call").Last;
        await Expect(call.Locator("pre code.language-python")).ToContainTextAsync("solve(Eq(3*x + 11, 14), x)");
        await Expect(call.Locator("pre.logs")).ToHaveTextAsync("[1]\n");
        var answer = page.Locator("li.msg.assistant .body").Last;
        await Expect(answer).ToContainTextAsync("subtract 11 from both sides");
        await Expect(answer.Locator(".math")).ToHaveTextAsync("x = 1");
        await host.ScreenshotAsync("math-tutor");

        // Narrow screen and dark theme: the same conversation stays readable.
        await page.GetByRole(AriaRole.Button, new() { Name = "Dark theme" }).ClickAsync();
        await page.SetViewportSizeAsync(360, 780);
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= 360"), "the page scrolls sideways at 360 px");
        await host.ScreenshotAsync("math-tutor-360-dark");
        Assert.Empty(host.PageErrors);
    }

    [Fact]
    public async Task CodeInterpreterImage_DrawnInTheSandbox_ShowsInline()
    {
        await using var host = await PlaygroundHost.StartAsync(browser);
        var page = host.Page;
        await host.ApiAsync(HttpMethod.Post, "assistants", """{"model":"gpt-4o","name":"Plotter","tools":[{"type":"code_interpreter"}]}""");
        host.Model.Enqueue(
            Reply.ToolCalls(Code("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('squares')\nplt.show()\nprint('drawn')", "call_plot")),
            Reply.Text("Here is the plot of the squares."));
        await host.OpenAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Chat" }).ClickAsync();
        await page.GetByLabel("Message").FillAsync("Plot the squares of 1, 2 and 3.");
        await page.GetByLabel("Message").PressAsync("Enter");

        var image = page.Locator("details.code-call img").Last;
        await Expect(image).ToBeVisibleAsync();
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('details.code-call img')].some(i => i.complete && i.naturalWidth > 100)");
        await Expect(page.Locator("li.msg.assistant .msg-images img").Last).ToBeVisibleAsync();
        await Expect(page.Locator("li.msg.assistant .body").Last).ToContainTextAsync("Here is the plot");
        await host.ScreenshotAsync("code-interpreter-image");
        Assert.Empty(host.PageErrors);
    }
}
