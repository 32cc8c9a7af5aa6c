using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Threadloom.Compatibility.Azure.Tests;

/// <summary>
/// A minimal OpenAI-compatible chat-completions server for the server child process. It lives here, not in
/// <c>Threadloom.Testing</c>, because that project carries the server's newer OpenAI assembly. The same rule as the Node
/// suites' model (<c>MessageRules</c>): tool results as the last messages → <c>Done: out1, out2</c>; a user message
/// <c>CALL name {json} | name {json}</c> → those function calls; anything else → <c>Echo: text</c>.
/// </summary>
public sealed class ModelResponder : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _calls;

    private ModelResponder(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The OpenAI-style base URL, <c>http://127.0.0.1:port/v1/</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    public int ChatCalls => Volatile.Read(ref _calls);

    public static async Task<ModelResponder> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var responder = new ModelResponder(app);
        app.MapPost("/v1/chat/completions", responder.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        responder.BaseAddress = new Uri(address.TrimEnd('/') + "/v1/");
        return responder;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _calls);
        var body = (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted))!.AsObject();
        var messages = body["messages"]!.AsArray();
        var (text, calls) = Decide(messages);
        var stream = body["stream"]?.GetValue<bool>() == true;
        var finish = calls.Count > 0 ? "tool_calls" : "stop";
        if (!stream)
        {
            var message = new JsonObject { ["role"] = "assistant", ["content"] = calls.Count > 0 ? null : text };
            if (calls.Count > 0)
            {
                message["tool_calls"] = new JsonArray([.. calls.Select((c, i) => (JsonNode)new JsonObject
                {
                    ["id"] = $"call_{i}", ["type"] = "function", ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.Arguments },
                })]);
            }
            await context.Response.WriteAsJsonAsync(new JsonObject
            {
                ["id"] = "chatcmpl-azure", ["object"] = "chat.completion", ["created"] = 0, ["model"] = "responder",
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = finish }),
                ["usage"] = new JsonObject { ["prompt_tokens"] = 10, ["completion_tokens"] = 5, ["total_tokens"] = 15 },
            });
            return;
        }
        context.Response.ContentType = "text/event-stream";
        var chunks = new List<JsonObject> { new() { ["role"] = "assistant", ["content"] = "" } };
        if (calls.Count == 0)
        {
            for (var i = 0; i < text.Length; i += 4)
            {
                chunks.Add(new JsonObject { ["content"] = text.Substring(i, Math.Min(4, text.Length - i)) });
            }
        }
        for (var i = 0; i < calls.Count; i++)
        {
            chunks.Add(new JsonObject
            {
                ["tool_calls"] = new JsonArray(new JsonObject
                {
                    ["index"] = i, ["id"] = $"call_{Guid.NewGuid():N}", ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = calls[i].Name, ["arguments"] = calls[i].Arguments },
                }),
            });
        }
        for (var i = 0; i <= chunks.Count; i++)
        {
            var last = i == chunks.Count;
            var chunk = new JsonObject
            {
                ["id"] = "chatcmpl-azure", ["object"] = "chat.completion.chunk", ["created"] = 0, ["model"] = "responder",
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = last ? new JsonObject() : chunks[i], ["finish_reason"] = last ? finish : null }),
            };
            await context.Response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n", context.RequestAborted);
        }
        await context.Response.WriteAsync("data: [DONE]\n\n", context.RequestAborted);
    }

    private static (string Text, List<(string Name, string Arguments)> Calls) Decide(JsonArray messages)
    {
        var outputs = new List<string>();
        for (var i = messages.Count - 1; i >= 0 && messages[i]!["role"]!.GetValue<string>() == "tool"; i--)
        {
            outputs.Insert(0, TextOf(messages[i]!));
        }
        if (outputs.Count > 0)
        {
            return ("Done: " + string.Join(", ", outputs), []);
        }
        var user = messages.LastOrDefault(m => m!["role"]!.GetValue<string>() == "user");
        var text = user is null ? "" : TextOf(user);
        if (text.StartsWith("CALL ", StringComparison.Ordinal))
        {
            var calls = text[5..].Split(" | ").Select(c =>
            {
                var space = c.IndexOf(' ', StringComparison.Ordinal);
                return space < 0 ? (c.Trim(), "{}") : (c[..space], c[(space + 1)..].Trim());
            }).ToList();
            return ("", calls);
        }
        return ("Echo: " + text, []);
    }

    private static string TextOf(JsonNode message) => message["content"] switch
    {
        JsonValue value => value.GetValue<string>(),
        JsonArray parts => string.Concat(parts.Select(p => p?["text"]?.GetValue<string>())),
        _ => "",
    };
}
