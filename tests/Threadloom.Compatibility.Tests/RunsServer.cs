using System.ClientModel;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Assistants;
using Threadloom.Testing;

namespace Threadloom.Compatibility.Tests;

/// <summary>
/// A real Threadloom server whose only model provider is a real <see cref="ScriptedModelServer"/>, plus the official
/// .NET <see cref="AssistantClient"/> pointed at it. One per test, so each test scripts its own model.
/// </summary>
public sealed class RunsServer : IAsyncDisposable
{
    private RunsServer(ThreadloomServer server, ScriptedModelServer model, ManualTimeProvider? clock)
    {
        Server = server;
        Model = model;
        Clock = clock;
    }

    public ThreadloomServer Server { get; }

    public ScriptedModelServer Model { get; }

    /// <summary>The server's clock when started with <c>fakeClock</c>; only <c>GetUtcNow</c> is faked.</summary>
    public ManualTimeProvider? Clock { get; }

    public static async Task<RunsServer> StartAsync(bool fakeClock = false, Func<ScriptedRequest, Reply>? responder = null)
    {
        var model = await ScriptedModelServer.StartAsync();
        model.RespondWith(responder);
        var clock = fakeClock ? new ManualTimeProvider() : null;
        var server = await ThreadloomServer.StartAsync(
            ModelSettings(model),
            clock is null ? null : services => services.AddSingleton<TimeProvider>(clock));
        return new RunsServer(server, model, clock);
    }

    /// <summary>Points the server's default provider at <paramref name="model"/>, with one fast retry and a fast sweep.</summary>
    public static Dictionary<string, string?> ModelSettings(ScriptedModelServer model) => new()
    {
        ["Inference:Providers:default:BaseUrl"] = model.OpenAIBaseAddress.ToString(),
        ["Inference:Providers:default:ApiKey"] = "scripted-key",
        ["Inference:MaxRetries"] = "1",
        ["Inference:RetryBaseDelay"] = "00:00:00.010",
        ["Runs:SweepInterval"] = "00:00:00.050",
    };

    public AssistantClient Assistants() =>
        new OpenAIClient(new ApiKeyCredential("sdk-key"), new OpenAIClientOptions { Endpoint = Server.OpenAIEndpoint }).GetAssistantClient();

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Model.DisposeAsync();
    }
}

/// <summary>
/// A model scripted through message content, for clients that cannot reach the <see cref="ScriptedModelServer"/>
/// (the Node suites, a child process). The rule looks at the last message the model was sent:
/// <list type="bullet">
/// <item>a <c>tool</c> message (tool results): answer <c>Done: </c> and the outputs of the trailing tool messages, joined by <c>, </c>;</item>
/// <item>a user message starting <c>CALL name {json} [| name {json}]…</c>: emit those function calls, in parallel;</item>
/// <item>a user message starting <c>SLOW</c>: echo it one character per chunk, 20 ms apart;</item>
/// <item>a user message starting <c>UPSTREAM</c>: answer <c>Upstream: </c> and a JSON object of what the request carried
/// (<c>model</c>, <c>reasoning_effort</c>, <c>temperature</c>, <c>max_completion_tokens</c>, the number of <c>images</c>);</item>
/// <item>any other user message: answer <c>Echo: </c> and its text.</item>
/// </list>
/// </summary>
public static class MessageRules
{
    public static Reply Respond(ScriptedRequest request)
    {
        var messages = request.Messages;
        var last = messages.Count > 0 ? messages[^1] : default;
        if (last.ValueKind == JsonValueKind.Object && last.TryGetProperty("role", out var role) && role.GetString() == "tool")
        {
            var outputs = new List<string>();
            for (var i = messages.Count - 1; i >= 0 && messages[i].GetProperty("role").GetString() == "tool"; i--)
            {
                outputs.Insert(0, TextOf(messages[i]));
            }
            return Reply.Text("Done: " + string.Join(", ", outputs));
        }
        var text = request.LastUserText ?? "";
        // The scenario notebooks prefix "Today is: …\n\n"; the rule reads the last line block.
        var command = text[(text.LastIndexOf("\n\n", StringComparison.Ordinal) is var cut and >= 0 ? cut + 2 : 0)..];
        if (command.StartsWith("CALL ", StringComparison.Ordinal))
        {
            var calls = command[5..].Split(" | ").Select(ParseCall).ToArray();
            return Reply.ToolCalls(calls);
        }
        if (command.StartsWith("UPSTREAM", StringComparison.Ordinal))
        {
            // What arrived upstream, for suites that cannot read the scripted server's records.
            return Reply.Text("Upstream: " + JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["model"] = request.Model,
                ["reasoning_effort"] = request.ReasoningEffort,
                ["temperature"] = request.Body.TryGetProperty("temperature", out var t) ? t.GetDouble() : null,
                ["max_completion_tokens"] = request.MaxCompletionTokens,
                ["images"] = request.ImageParts.Count,
            }));
        }
        if (command.StartsWith("SLOW", StringComparison.Ordinal))
        {
            return Reply.Text("Echo: " + command, chunkSize: 1).WithDelayPerChunk(TimeSpan.FromMilliseconds(20));
        }
        return Reply.Text("Echo: " + text);
    }

    private static (string Name, string Arguments) ParseCall(string call)
    {
        var space = call.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (call.Trim(), "{}") : (call[..space], call[(space + 1)..].Trim());
    }

    private static string TextOf(JsonElement message)
    {
        var content = message.GetProperty("content");
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }
        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            text.Append(part.GetProperty("text").GetString());
        }
        return text.ToString();
    }
}

/// <summary>
/// A server whose model follows <see cref="MessageRules"/>, for the Node suites: they script the model through the
/// text of the messages they post.
/// </summary>
public sealed class RulesServerFixture : IAsyncLifetime
{
    private ScriptedModelServer _model = null!;

    public ThreadloomServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _model = await ScriptedModelServer.StartAsync();
        _model.RecordRequests = false;
        _model.RespondWith(MessageRules.Respond);
        var settings = RunsServer.ModelSettings(_model);
        // o3* names a reasoning model (reasoning_effort is sent); every other name passes through unchanged.
        settings["Inference:Models:0:Name"] = "o3*";
        settings["Inference:Models:0:Reasoning"] = "true";
        settings["Inference:Models:1:Name"] = "*";
        Server = await ThreadloomServer.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await _model.DisposeAsync();
    }
}
