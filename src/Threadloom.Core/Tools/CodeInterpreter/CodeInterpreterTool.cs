using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;

namespace Threadloom.Core.Tools.CodeInterpreter;

/// <summary>
/// The <c>code_interpreter</c> built-in tool (DESIGN §6): runs the model's Python in the thread's sandbox session,
/// with the run's input files at <c>/mnt/data/&lt;filename&gt;</c>, and turns what the execution produced into
/// <c>assistants_output</c> files, step outputs (<c>logs</c>, <c>image</c>) and the text the model gets back.
/// </summary>
/// <remarks>
/// A failure of the code or a limit hit is reported to the model (the step still completes). A sandbox that cannot
/// run at all throws <see cref="BuiltInToolUnavailableException"/>, which fails the run: code is never run unsandboxed.
/// </remarks>
public sealed partial class CodeInterpreterTool(
    ICodeSandbox sandbox,
    IAssistantStore assistants,
    IThreadStore threads,
    IMessageStore messages,
    IFileStore files,
    IRunStepStore steps,
    IBlobStore blobs,
    IIdGenerator ids,
    TimeProvider time,
    IOptions<CodeInterpreterToolOptions> options,
    ILogger<CodeInterpreterTool> logger) : IBuiltInTool
{
    public const string ToolName = "code_interpreter";

    /// <summary>Where produced files are linked from; the prefix of <c>file_path</c> annotations.</summary>
    public const string SandboxLinkPrefix = "sandbox:/mnt/data/";

    /// <summary>Purpose of the files the tool produces, as OpenAI names it.</summary>
    public const string OutputPurpose = "assistants_output";

    private const string UnavailablePrefix = "The code interpreter sandbox is unavailable";

    private static readonly JsonElement Parameters = JsonDocument.Parse("""
        {"type":"object","properties":{"code":{"type":"string","description":"The Python 3 source to execute."}},"required":["code"],"additionalProperties":false}
        """).RootElement.Clone();

    private volatile bool _healthy;

    public string Name => ToolName;

    public ModelTool Definition { get; } = new(ToolName,
        "Executes Python 3 code in a stateful, sandboxed Jupyter-like session with no internet access and returns its output "
        + "(stdout, stderr, the value of a trailing expression, or the traceback). Variables persist between calls on this thread. "
        + "Files the user provided are in /mnt/data (list them with os.listdir('/mnt/data')). Save every file you create for the "
        + "user under /mnt/data and link it in your answer as sandbox:/mnt/data/<filename>; matplotlib figures left open are "
        + "shown to the user automatically. numpy, pandas, matplotlib and the standard library are available.",
        Parameters, null);

    public async Task<BuiltInToolResult> ExecuteAsync(BuiltInToolCall call, CancellationToken cancellationToken)
    {
        var run = call.Run;
        if (ParseCode(call.Arguments) is not { } code)
        {
            var message = "Invalid arguments: expected a JSON object {\"code\": \"<python source>\"}.";
            return new BuiltInToolResult(new CodeInterpreterStepToolCall(call.CallId, new CodeInterpreterCall(call.Arguments, [new CodeInterpreterLogsOutput(message)])), message);
        }
        await EnsureAvailableAsync(cancellationToken);

        var inputs = await GatherInputsAsync(run, cancellationToken);
        var previousRunId = await LastRunWithCodeAsync(run, cancellationToken);
        var result = await sandbox.ExecuteAsync(
            new CodeExecutionRequest(run.ThreadId, code, inputs, new ExecutionAudit(run.ProjectId, run.ThreadId, run.Id), new OutputStore(this, run.ProjectId), previousRunId),
            cancellationToken);
        if (result.SessionReset)
        {
            LogSessionReset(run.Id, run.ThreadId, previousRunId ?? "-");
        }
        if (result.Failed && result.LimitHit is null && result.Logs.StartsWith("The code interpreter sandbox could not start", StringComparison.Ordinal))
        {
            _healthy = false;
            throw new BuiltInToolUnavailableException($"{UnavailablePrefix}: {result.Logs}");
        }

        var outputs = new List<CodeInterpreterOutput>();
        if (result.Logs.Length > 0)
        {
            outputs.Add(new CodeInterpreterLogsOutput(result.Logs));
        }
        foreach (var image in result.Images.Where(i => i.FileId is not null))
        {
            outputs.Add(new CodeInterpreterImageOutput(new CodeInterpreterImage(image.FileId!)));
        }
        var links = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var produced in result.Files.Where(f => f.FileId is not null))
        {
            links[SandboxLinkPrefix + produced.FileName] = produced.FileId!;
        }
        LogExecuted(run.Id, run.ThreadId, (long)result.Duration.TotalMilliseconds, result.Failed, result.Images.Count, result.Files.Count);
        return new BuiltInToolResult(new CodeInterpreterStepToolCall(call.CallId, new CodeInterpreterCall(code, outputs)),
            ModelOutput(result, links.Keys, options.Value.MaxModelOutputChars), links);
    }

    /// <summary>
    /// The text the model gets back: the logs, then what went wrong, then the files written and figures shown; never
    /// more than <paramref name="maxChars"/> characters. The status lines are kept to half of that (file lines are
    /// dropped with a count first); logs over the rest keep their head and tail around a notice.
    /// </summary>
    public static string ModelOutput(CodeExecutionResult result, IEnumerable<string> links, int maxChars)
    {
        var status = new StringBuilder();
        if (result.LimitHit is { } limit)
        {
            status.Append("[The execution hit the sandbox's ").Append(limit).Append(" limit.]\n");
        }
        else if (result.Failed)
        {
            status.Append("[The execution failed.]\n");
        }
        var linkList = links.ToList();
        for (var i = 0; i < linkList.Count; i++)
        {
            var line = $"[File written: {linkList[i]} (link it as this path to let the user download it)]\n";
            if (status.Length + line.Length > maxChars / 2)
            {
                status.Append(CultureInfo.InvariantCulture, $"[{linkList.Count - i} more file(s) were written; their links are not listed here.]\n");
                break;
            }
            status.Append(line);
        }
        if (result.Images.Count > 0)
        {
            status.Append('[').Append(result.Images.Count.ToString(CultureInfo.InvariantCulture))
                .Append(" figure(s) were saved and will be shown to the user with your answer.]\n");
        }
        var logs = result.Logs.Length > 0 ? result.Logs : "(no output)";
        var room = Math.Max(200, maxChars - status.Length - 1);
        if (logs.Length > room)
        {
            var notice = $"\n[... {logs.Length - room} characters of output were not sent to you (CodeInterpreter:MaxModelOutputChars) ...]\n";
            var keep = Math.Max(0, room - notice.Length);
            var head = SafeCut(logs, keep * 2 / 3);
            var tail = SafeCut(logs, logs.Length - (keep - head), forward: true);
            logs = string.Concat(logs.AsSpan(0, head), notice, logs.AsSpan(tail));
        }
        var text = new StringBuilder(logs);
        if (text[^1] != '\n')
        {
            text.Append('\n');
        }
        text.Append(status);
        var output = text.ToString().TrimEnd('\n');
        return output.Length <= maxChars ? output : output[..SafeCut(output, maxChars)];
    }

    /// <summary>An index at or near <paramref name="index"/> that does not split a surrogate pair.</summary>
    private static int SafeCut(string text, int index, bool forward = false)
    {
        index = Math.Clamp(index, 0, text.Length);
        if (index > 0 && index < text.Length && char.IsLowSurrogate(text[index]) && char.IsHighSurrogate(text[index - 1]))
        {
            index += forward ? 1 : -1;
        }
        return index;
    }

    private async Task EnsureAvailableAsync(CancellationToken cancellationToken)
    {
        if (_healthy)
        {
            return;
        }
        var health = await sandbox.CheckAsync(cancellationToken);
        if (!health.IsHealthy)
        {
            LogUnavailable(health.Reason ?? "unknown reason");
            throw new BuiltInToolUnavailableException($"{UnavailablePrefix}: {health.Reason ?? "the sandbox check failed"}");
        }
        _healthy = true;
    }

    /// <summary>
    /// The files the code can read: the assistant's and the thread's <c>tool_resources.code_interpreter.file_ids</c>
    /// (v1 assistant <c>file_ids</c> land there too) and the thread messages' attachments for code_interpreter (v1
    /// message <c>file_ids</c> become such attachments). Each goes to <c>/mnt/data/&lt;filename&gt;</c>; a second file
    /// with a name already taken gets <c>&lt;file id&gt;-&lt;filename&gt;</c>. Deleted files are skipped.
    /// </summary>
    private async Task<IReadOnlyList<SandboxInputFile>> GatherInputsAsync(Run run, CancellationToken cancellationToken)
    {
        var fileIds = new List<string>();
        if (await assistants.FindAsync(run.ProjectId, run.AssistantId, cancellationToken) is { } assistant)
        {
            fileIds.AddRange(assistant.ToolResources?.CodeInterpreter?.FileIds ?? []);
            if (assistant.Tools.Any(t => t is CodeInterpreterToolDefinition))
            {
                fileIds.AddRange(assistant.V1FileIds ?? []);
            }
        }
        if (await threads.FindAsync(run.ProjectId, run.ThreadId, cancellationToken) is { } thread)
        {
            fileIds.AddRange(thread.ToolResources?.CodeInterpreter?.FileIds ?? []);
        }
        string? after = null;
        while (true)
        {
            var page = await messages.ListAsync(run.ProjectId, run.ThreadId, null, new PageRequest(100, true, after), cancellationToken);
            foreach (var message in page.Items)
            {
                fileIds.AddRange(message.Attachments.Where(a => a.Tools.Any(t => t.Type == ToolName)).Select(a => a.FileId));
            }
            if (!page.HasMore || page.Items.Count == 0)
            {
                break;
            }
            after = page.Items[^1].Id;
        }

        var inputs = new List<SandboxInputFile>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in fileIds.Distinct(StringComparer.Ordinal))
        {
            if (await files.FindAsync(run.ProjectId, id, cancellationToken) is not { } file)
            {
                continue;
            }
            var name = SafeName(file.Filename, file.Id);
            if (!names.Add(name))
            {
                name = SafeName($"{file.Id}-{name}", file.Id);
                names.Add(name);
            }
            var key = file.BlobKey;
            inputs.Add(new SandboxInputFile(name, ct => blobs.OpenReadAsync(key, ct)));
        }
        return inputs;
    }

    /// <summary>
    /// The newest of the thread's last <see cref="SessionLookBack"/> runs (this one included) with a completed
    /// code_interpreter step, as the database records it whichever node ran it; null when there is none. The sandbox
    /// compares it with what its session last ran, to notice a session that is gone or out of date (issue #12 §3).
    /// </summary>
    private Task<string?> LastRunWithCodeAsync(Run run, CancellationToken cancellationToken) =>
        steps.FindLastRunWithBuiltInCallAsync(run.ProjectId, run.ThreadId, ToolName, SessionLookBack, cancellationToken);

    /// <summary>Runs of a thread looked at for an earlier code execution; older ones are not told about a reset.</summary>
    internal const int SessionLookBack = 20;

    /// <summary>A single path segment the sandbox accepts: no separators, not <c>.</c>/<c>..</c>, no control characters.</summary>
    internal static string SafeName(string filename, string fallback)
    {
        var name = filename.Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        name = new string([.. name.Select(c => char.IsControl(c) ? '_' : c)]).Trim();
        return name is "" or "." or ".." ? fallback : name;
    }

    /// <summary>Streams what the sandbox found into blobs and <c>assistants_output</c> file rows of the run's project.</summary>
    private sealed class OutputStore(CodeInterpreterTool tool, string projectId) : ISandboxOutputSink
    {
        public Task<string> StoreAsync(SandboxOutputKind kind, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken) =>
            tool.StoreOutputAsync(projectId, fileName, content, maxBytes, cancellationToken);
    }

    private async Task<string> StoreOutputAsync(string projectId, string fileName, Stream content, long maxBytes, CancellationToken cancellationToken)
    {
        var blob = await blobs.WriteAsync(content, maxBytes, cancellationToken);
        var file = new StoredFile(ids.NewId(Ids.File), projectId, time.GetUtcNow(), SafeName(fileName, "output"), OutputPurpose, blob.Length, blob.Key);
        await files.CreateAsync(file, cancellationToken);
        return file.Id;
    }

    private static string? ParseCode(string arguments)
    {
        try
        {
            using var document = JsonDocument.Parse(arguments);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
                ? code.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "code_interpreter ran for run {RunId} on thread {ThreadId} in {DurationMs} ms (failed: {Failed}, images: {Images}, files: {Files})")]
    private partial void LogExecuted(string runId, string threadId, long durationMs, bool failed, int images, int files);

    [LoggerMessage(Level = LogLevel.Information, Message = "code_interpreter session of thread {ThreadId} was reset for run {RunId} (the thread last ran code in run {PreviousRunId})")]
    private partial void LogSessionReset(string runId, string threadId, string previousRunId);

    [LoggerMessage(Level = LogLevel.Error, Message = "code_interpreter is unavailable: {Reason}")]
    private partial void LogUnavailable(string reason);
}
