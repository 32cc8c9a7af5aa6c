using Threadloom.Server.Tests.Runs;
using Threadloom.Testing;
using static Threadloom.Server.Tests.CodeInterpreter.CodeInterpreterKit;

namespace Threadloom.Server.Tests.CodeInterpreter;

/// <summary>
/// Scenarios 01, 06 and the code half of 11 (shared/scenarios/README.md) with the real bubblewrap sandbox: the model
/// is scripted, but every number asserted in the logs is computed by Python in the sandbox.
/// </summary>
public sealed class CodeInterpreterScenarioTests
{
    [Fact]
    public async Task Scenario01_MathTutor_SolvesInSandbox_OverrideInstructions_DeletesWork()
    {
        await using var server = await RunTestServer.StartAsync();
        server.Model.Enqueue(
            Reply.ToolCalls(Code("from sympy import symbols, Eq, solve\nx = symbols('x')\nprint(solve(Eq(3*x + 11, 14), x))", "call_math")),
            Reply.Text("Jane Doe, the solution is x = 1."));
        var assistant = (await server.OkAsync(server.PostAsync("assistants",
            """{"name":"Math Tutor","model":"gpt-test","instructions":"You are a personal math tutor. Write and run code to answer math questions.","tools":[{"type":"code_interpreter"}]}""")))
            .GetProperty("id").GetString()!;
        var thread = await server.CreateThreadAsync("I need to solve the equation `3x + 11 = 14`. Can you help me?");

        var (runId, run) = await server.RunUntilSettledAsync(thread,
            $$"""{"assistant_id":"{{assistant}}","instructions":"Please address the user as Jane Doe. The user has a premium account."}""");

        Assert.Equal("completed", run.GetProperty("status").GetString());
        Assert.Equal("Please address the user as Jane Doe. The user has a premium account.", run.GetProperty("instructions").GetString());
        var call = Assert.Single(await server.CodeCallsAsync(thread, runId));
        Assert.Equal("call_math", call.GetProperty("id").GetString());
        Assert.StartsWith("from sympy import", call.GetProperty("code_interpreter").GetProperty("input").GetString(), StringComparison.Ordinal);
        Assert.Equal("[1]", Logs(call).Trim());
        Assert.Contains("[1]", server.ToolResultSeenByModel("call_math"), StringComparison.Ordinal);
        Assert.Equal("Please address the user as Jane Doe. The user has a premium account.", server.Model.ChatRequests[0].Messages[0].GetProperty("content").GetString());

        var messages = await server.OkAsync(server.GetAsync($"threads/{thread}/messages"));
        Assert.Equal(2, messages.GetProperty("data").GetArrayLength());
        Assert.All(messages.GetProperty("data").EnumerateArray(), m => Assert.Equal("text", m.GetProperty("content")[0].GetProperty("type").GetString()));
        Assert.Equal("Jane Doe, the solution is x = 1.", messages.GetProperty("data")[0].GetProperty("content")[0].GetProperty("text").GetProperty("value").GetString());

        var assistants = await server.OkAsync(server.GetAsync("assistants"));
        Assert.Contains(assistants.GetProperty("data").EnumerateArray(), a => a.GetProperty("id").GetString() == assistant);
        Assert.Equal("assistant.deleted", (await server.OkAsync(server.SendAsync(HttpMethod.Delete, $"assistants/{assistant}"))).GetProperty("object").GetString());
        var deleted = await server.OkAsync(server.SendAsync(HttpMethod.Delete, $"threads/{thread}"));
        Assert.Equal("thread.deleted", deleted.GetProperty("object").GetString());
        Assert.True(deleted.GetProperty("deleted").GetBoolean());
    }

    [Fact]
    public async Task Scenario06_Portfolio_V1FileIds_PricesThenPandasThenEmail()
    {
        await using var server = await RunTestServer.StartAsync();
        var csv = await File.ReadAllBytesAsync(RepoPaths.ScenarioData("finance/fta-portfolio.csv"));
        var fileId = await server.UploadAsync("fta-portfolio.csv", csv);
        var tickers = new[] { "AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NFLX", "NVDA" };
        var prices = new[] { 183.22, 389.48, 142.01, 152.90, 219.45, 480.00, 561.08 };
        const string ReportCode = """
            import pandas as pd
            df = pd.read_csv('/mnt/data/fta-portfolio.csv')
            prices = {'AAPL': 183.22, 'MSFT': 389.48, 'GOOGL': 142.01, 'AMZN': 152.90, 'TSLA': 219.45, 'NFLX': 480.00, 'NVDA': 561.08}
            df['Price'] = df['Ticker'].map(prices)
            df['Performance'] = df['Price'] * df['QTY'] - df['Cost']
            print(df[['Ticker', 'Performance']].to_string(index=False))
            print('best:', df.loc[df['Performance'].idxmax(), 'Ticker'])
            print('worst:', df.loc[df['Performance'].idxmin(), 'Ticker'])
            """;
        server.Model.Enqueue(
            Reply.ToolCalls([.. tickers.Select((t, i) => new ScriptedToolCall("get_stock_price", $$"""{"symbol":"{{t}}"}""", $"call_price_{i}"))]),
            Reply.ToolCalls(Code(ReportCode, "call_report")),
            Reply.ToolCalls(new ScriptedToolCall("send_email", """{"to":"someone@example.com","content":"<table><tr><td>AMZN</td></tr></table>"}""", "call_email")),
            Reply.Text("I emailed the report. Best: AMZN; worst: TSLA."));

        // v1 dialect: the file is attached with assistant file_ids.
        var assistant = await server.AzureV1PostAsync("assistants", """
            {"name":"fta-Securities Trading Assistant","model":"gpt-test",
             "instructions":"You are a personal securities trading assistant. Please be polite, professional, helpful, and friendly.",
             "tools":[{"type":"code_interpreter"},
               {"type":"function","function":{"name":"get_stock_price","description":"Retrieve the latest closing price of a stock using its ticker symbol.","parameters":{"type":"object","properties":{"symbol":{"type":"string"}},"required":["symbol"]}}},
               {"type":"function","function":{"name":"send_email","description":"Sends an email to a recipient(s).","parameters":{"type":"object","properties":{"to":{"type":"string"},"content":{"type":"string"}},"required":["to","content"]}}}],
             "file_ids":["FILE_ID"]}
            """.Replace("FILE_ID", fileId, StringComparison.Ordinal));
        var assistantId = assistant.GetProperty("id").GetString()!;
        var thread = await server.CreateThreadAsync("Based on the provided portfolio, please email me an HTML formatted report to someone@example.com with the details for each stock based on the latest stock prices, and list the best and worst performing stocks in my portfolio.");

        var (runId, run) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistantId}}"}""");
        Assert.Equal("requires_action", run.GetProperty("status").GetString());
        var priceCalls = run.GetProperty("required_action").GetProperty("submit_tool_outputs").GetProperty("tool_calls");
        Assert.Equal(7, priceCalls.GetArrayLength());
        var outputs = string.Join(",", Enumerable.Range(0, 7).Select(i =>
            $$"""{"tool_call_id":"call_price_{{i}}","output":{{prices[i].ToString(System.Globalization.CultureInfo.InvariantCulture)}}}"""));
        await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", $$"""{"tool_outputs":[{{outputs}}]}"""));

        run = await server.SettleAsync(thread, runId);
        Assert.True(run.GetProperty("status").GetString() == "requires_action", run.ToString());
        var email = Assert.Single(run.GetProperty("required_action").GetProperty("submit_tool_outputs").GetProperty("tool_calls").EnumerateArray());
        Assert.Equal("send_email", email.GetProperty("function").GetProperty("name").GetString());
        var report = Assert.Single(await server.CodeCallsAsync(thread, runId));
        var logs = Logs(report);
        Assert.Contains("best: AMZN", logs, StringComparison.Ordinal);
        Assert.Contains("worst: TSLA", logs, StringComparison.Ordinal);
        Assert.Contains("185220", logs.Replace(",", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Contains("best: AMZN", server.ToolResultSeenByModel("call_report"), StringComparison.Ordinal);

        await server.OkAsync(server.PostAsync($"threads/{thread}/runs/{runId}/submit_tool_outputs", """{"tool_outputs":[{"tool_call_id":"call_email","output":"sent"}]}"""));
        run = await server.SettleAsync(thread, runId);
        Assert.Equal("completed", run.GetProperty("status").GetString());
        var final = await server.LastAssistantMessageAsync(thread);
        Assert.Equal("I emailed the report. Best: AMZN; worst: TSLA.", final.GetProperty("content")[0].GetProperty("text").GetProperty("value").GetString());
    }

    [Fact]
    public async Task Scenario11_TravelShare_ThreadToolResources_LogsShowTheShare()
    {
        await using var server = await RunTestServer.StartAsync();
        var fileId = await server.UploadAsync("airbnb_bills.csv", await File.ReadAllBytesAsync(RepoPaths.ScenarioData("travel/airbnb_bills.csv")));
        server.Model.Enqueue(
            Reply.ToolCalls(Code("""
                import pandas as pd
                bills = pd.read_csv('/mnt/data/airbnb_bills.csv')
                cost = dict(zip(bills['Description'], bills['Cost']))
                share = cost['Lodging'] / 4 + cost['Flights'] / 4
                print(f'My share: {share:.0f}')
                """, "call_share")),
            Reply.Text("Your share is $2,250."));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = (await server.OkAsync(server.PostAsync("threads",
            $$$"""{"tool_resources":{"code_interpreter":{"file_ids":["{{{fileId}}}"]}},"messages":[{"role":"user","content":"Will be 4 friends staying at this Airbnb in Berlin. What's my share of costs+my flight?"}]}""")))
            .GetProperty("id").GetString()!;

        var (runId, run) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        Assert.Equal("My share: 2250", Logs(Assert.Single(await server.CodeCallsAsync(thread, runId))).Trim());
    }

    [Fact]
    public async Task MessageAttachment_FileIsPlacedUnderItsName()
    {
        await using var server = await RunTestServer.StartAsync();
        var fileId = await server.UploadAsync("notes.txt", "hello from the attachment"u8.ToArray());
        server.Model.Enqueue(Reply.ToolCalls(Code("print(open('/mnt/data/notes.txt').read())")), Reply.Text("done"));
        var assistant = await server.CreateAssistantAsync(CodeTool);
        var thread = (await server.OkAsync(server.PostAsync("threads",
            $$"""{"messages":[{"role":"user","content":"read it","attachments":[{"file_id":"{{fileId}}","tools":[{"type":"code_interpreter"}]}]}]}""")))
            .GetProperty("id").GetString()!;

        var (runId, run) = await server.RunUntilSettledAsync(thread, $$"""{"assistant_id":"{{assistant}}"}""");

        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        Assert.Equal("hello from the attachment", Logs(Assert.Single(await server.CodeCallsAsync(thread, runId))).Trim());
    }
}
