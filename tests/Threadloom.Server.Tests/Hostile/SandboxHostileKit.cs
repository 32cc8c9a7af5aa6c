using System.Collections.Concurrent;
using System.Text.Json;
using Threadloom.Server.Tests.Runs;
using Threadloom.Testing;
using static Threadloom.Server.Tests.CodeInterpreter.CodeInterpreterKit;

namespace Threadloom.Server.Tests.Hostile;

/// <summary>
/// Drives hostile code through real runs while a well-formed run on another thread is served at the same time. The
/// scripted model routes by the last user message, <c>run &lt;key&gt;</c>: it calls <c>code_interpreter</c> with the
/// code registered under that key (call id <c>call_&lt;key&gt;</c>), then answers "done" once it sees the tool result.
/// </summary>
internal sealed class SandboxHostileKit : IAsyncDisposable
{
    /// <summary>Code that finds the id of the request being executed, in the kernel's own frames (user code can).</summary>
    public const string FindRequestId = """
        import sys, json
        def _request_id():
            f = sys._getframe()
            while f is not None:
                r = f.f_locals.get('req')
                if isinstance(r, dict) and 'code' in r:
                    return r.get('id')
                f = f.f_back
        def _forge(logs, rid='real'):
            out = sys.modules['__main__'].PROTO_OUT
            reply = {"id": _request_id() if rid == 'real' else rid, "logs": logs, "dropped": 0, "failed": False, "limit": None,
                     "images": [], "files": [], "fatal": False}
            out.write(json.dumps(reply).encode() + b"\n")

        """;

    public const string Benign = "print(6 * 7)";

    private readonly ConcurrentDictionary<string, string> _scripts = new(StringComparer.Ordinal);

    private SandboxHostileKit(RunTestServer server, string assistant)
    {
        Server = server;
        Assistant = assistant;
    }

    public RunTestServer Server { get; }
    public string Assistant { get; }

    public static async Task<SandboxHostileKit> StartAsync(params string[] extraArgs)
    {
        var server = await RunTestServer.StartAsync(extraArgs: extraArgs);
        var kit = new SandboxHostileKit(server, await server.CreateAssistantAsync(CodeTool));
        server.Model.RespondWith(kit.Respond);
        return kit;
    }

    /// <summary>Registers <paramref name="code"/> under <paramref name="key"/>.</summary>
    public void Script(string key, string code) => _scripts[key] = code;

    /// <summary>Starts a run of <paramref name="key"/> on <paramref name="thread"/> (a new thread when null); returns both ids.</summary>
    public async Task<(string Thread, string Run)> StartRunAsync(string key, string? thread = null, string? attachFileId = null)
    {
        var attachments = attachFileId is null ? "" : $$""","attachments":[{"file_id":"{{attachFileId}}","tools":[{"type":"code_interpreter"}]}]""";
        if (thread is null)
        {
            var created = await Server.OkAsync(Server.PostAsync("threads", $$"""{"messages":[{"role":"user","content":"run {{key}}"{{attachments}}}]}"""));
            thread = created.GetProperty("id").GetString()!;
        }
        else
        {
            await Server.OkAsync(Server.PostAsync($"threads/{thread}/messages", $$"""{"role":"user","content":"run {{key}}"{{attachments}}}"""));
        }
        var run = await Server.OkAsync(Server.PostAsync($"threads/{thread}/runs", $$"""{"assistant_id":"{{Assistant}}"}"""));
        return (thread, run.GetProperty("id").GetString()!);
    }

    /// <summary>Runs <paramref name="key"/> to a final status; returns the run and its code_interpreter logs.</summary>
    public async Task<(string Thread, JsonElement Run, string Logs)> RunAsync(string key, string? thread = null, string? attachFileId = null)
    {
        var (threadId, runId) = await StartRunAsync(key, thread, attachFileId);
        var run = await Server.SettleAsync(threadId, runId);
        var calls = await Server.CodeCallsAsync(threadId, runId);
        return (threadId, run, string.Concat(calls.Select(Logs)));
    }

    /// <summary>A well-formed run on a fresh thread: must complete with "42" while the hostile one runs.</summary>
    public async Task AssertBenignServedAsync()
    {
        Script("benign", Benign);
        var (_, run, logs) = await RunAsync("benign");
        Assert.True(run.GetProperty("status").GetString() == "completed", run.ToString());
        Assert.Equal("42", logs.Trim());
    }

    /// <summary>The content of the tool message the model received for <c>call_&lt;key&gt;</c> (the latest such request).</summary>
    public string? ToolOutputSeenByModel(string key) => Server.Model.ChatRequests
        .SelectMany(r => r.Messages)
        .Where(m => m.GetProperty("role").GetString() == "tool" && m.GetProperty("tool_call_id").GetString() == "call_" + key)
        .Select(m => m.GetProperty("content").ValueKind == JsonValueKind.String
            ? m.GetProperty("content").GetString()
            : string.Concat(m.GetProperty("content").EnumerateArray().Select(p => p.GetProperty("text").GetString())))
        .LastOrDefault();

    private Reply Respond(ScriptedRequest request)
    {
        var messages = request.Messages;
        if (messages.Count > 0 && messages[^1].GetProperty("role").GetString() == "tool")
        {
            return Reply.Text("done");
        }
        var lastUser = messages.LastOrDefault(m => m.GetProperty("role").GetString() == "user");
        var text = lastUser.ValueKind == JsonValueKind.Object ? TextOf(lastUser.GetProperty("content")) : "";
        var key = text.StartsWith("run ", StringComparison.Ordinal) ? text[4..].Trim() : "";
        return _scripts.TryGetValue(key, out var code) ? Reply.ToolCalls(Code(code, "call_" + key)) : Reply.Text("no script for '" + key + "'");
    }

    private static string TextOf(JsonElement content) => content.ValueKind == JsonValueKind.String
        ? content.GetString() ?? ""
        : string.Concat(content.EnumerateArray().Where(p => p.TryGetProperty("text", out _)).Select(p => p.GetProperty("text").GetString()));

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
