using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Domain;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;
using Threadloom.Server.Features.Messages;
using Threadloom.Server.Features.Threads;
using Threadloom.Server.Features.VectorStores;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Runs;

public static class RunEndpoints
{
    /// <summary>Poll interval the SDKs' <c>createAndPoll</c>/<c>poll</c> helpers read from run responses.</summary>
    internal const string PollAfterHeader = "openai-poll-after-ms";
    internal const string PollAfterMs = "200";
    private const int MinTokenLimit = 256;

    public static RouteGroupBuilder MapRunEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/threads/runs", CreateThreadAndRunAsync).WithTags("Runs").WithName("createThreadAndRun");
        var runs = api.MapGroup("/threads/{threadId}/runs").WithTags("Runs");
        runs.MapPost("/", CreateAsync).WithName("createRun");
        runs.MapGet("/", ListAsync).WithName("listRuns");
        runs.MapGet("/{runId}", GetAsync).WithName("getRun");
        runs.MapPost("/{runId}", ModifyAsync).WithName("modifyRun");
        runs.MapPost("/{runId}/cancel", CancelAsync).WithName("cancelRun");
        runs.MapPost("/{runId}/submit_tool_outputs", SubmitToolOutputsAsync).WithName("submitToolOuputsToRun");
        runs.MapGet("/{runId}/steps", ListStepsAsync).WithName("listRunSteps");
        runs.MapGet("/{runId}/steps/{stepId}", GetStepAsync).WithName("getRunStep");
        return api;
    }

    internal static async Task<Results<Ok<RunObject>, ServerSentEventsResult<string>>> CreateAsync(
        string threadId, HttpContext http, ApiCaller caller, IThreadStore threads, IAssistantStore assistants, MessageFactory messageFactory,
        RunCommands commands, IRunEventBus hub, ThreadFileSearch fileSearch, IIdGenerator ids, TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateRunRequest);
        ValidateInclude(http.Request, request.Include);
        var thread = await ThreadEndpoints.FindAsync(threads, caller, threadId, cancellationToken);
        var assistant = await FindAssistantAsync(assistants, caller, request.AssistantId, cancellationToken);
        var settings = new RunSettings(request.Model, request.Instructions, request.AdditionalInstructions, request.Tools, request.Metadata,
            request.Temperature, request.TopP, request.MaxPromptTokens, request.MaxCompletionTokens, request.TruncationStrategy, request.ToolChoice,
            request.ParallelToolCalls, request.ResponseFormat, request.ReasoningEffort);
        var run = BuildRun(settings, assistant, threadId, caller, ids, time);
        var additional = new List<ThreadMessage>();
        for (var i = 0; request.AdditionalMessages is not null && i < request.AdditionalMessages.Count; i++)
        {
            var message = request.AdditionalMessages[i] ?? throw ApiErrors.InvalidRequest($"Invalid type for 'additional_messages[{i}]': expected an object.", $"additional_messages[{i}]", "invalid_type");
            additional.Add(await messageFactory.CreateAsync(message, threadId, caller, $"additional_messages[{i}]", cancellationToken));
        }
        await fileSearch.UseStoresAsync(run.Tools, assistant, thread, cancellationToken);
        await fileSearch.AttachAsync(thread, additional, cancellationToken);

        var subscription = request.Stream == true ? await hub.SubscribeToNewRunAsync(run.Id, cancellationToken) : null;
        try
        {
            if (await commands.StartAsync(run, additional, cancellationToken) is { } active)
            {
                throw ThreadGuard.ActiveRunError(threadId, active);
            }
        }
        catch
        {
            subscription?.Dispose();
            throw;
        }
        return Respond(http, run, subscription, [], cancellationToken);
    }

    internal static async Task<Results<Ok<RunObject>, ServerSentEventsResult<string>>> CreateThreadAndRunAsync(
        HttpContext http, ApiCaller caller, IThreadStore threads, IAssistantStore assistants, ToolResourcesBinder binder, MessageFactory messageFactory,
        RunCommands commands, IRunEventBus hub, ThreadFileSearch fileSearch, IIdGenerator ids, TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateThreadAndRunRequest);
        ValidateInclude(http.Request, null);
        var assistant = await FindAssistantAsync(assistants, caller, request.AssistantId, cancellationToken);
        var (thread, initial) = await ThreadEndpoints.BuildAsync(request.Thread ?? new CreateThreadRequest(), caller, binder, messageFactory, ids, time, "thread", cancellationToken);
        if (request.ToolResources is not null && request.Thread?.ToolResources is null)
        {
            thread = thread with { ToolResources = await binder.ResolveAsync(request.ToolResources, caller, cancellationToken) };
        }
        var settings = new RunSettings(request.Model, request.Instructions, null, request.Tools, request.Metadata,
            request.Temperature, request.TopP, request.MaxPromptTokens, request.MaxCompletionTokens, request.TruncationStrategy, request.ToolChoice,
            request.ParallelToolCalls, request.ResponseFormat, request.ReasoningEffort);
        var run = BuildRun(settings, assistant, thread.Id, caller, ids, time);
        await fileSearch.UseStoresAsync(run.Tools, assistant, thread, cancellationToken);

        var subscription = request.Stream == true ? await hub.SubscribeToNewRunAsync(run.Id, cancellationToken) : null;
        try
        {
            await threads.CreateAsync(thread, initial, cancellationToken);
            thread = await fileSearch.AttachAsync(thread, initial, cancellationToken);
            if (await commands.StartAsync(run, [], cancellationToken) is { } active)
            {
                throw ThreadGuard.ActiveRunError(thread.Id, active);
            }
        }
        catch
        {
            subscription?.Dispose();
            throw;
        }
        return Respond(http, run, subscription, [new RunEvent(RunEventNames.ThreadCreated, thread)], cancellationToken);
    }

    internal static async Task<Ok<ListResponse<RunObject>>> ListAsync(
        string threadId, HttpRequest request, ApiCaller caller, IThreadStore threads, IRunStore runs, CancellationToken cancellationToken)
    {
        var query = ListQuery.Parse(request);
        await ThreadEndpoints.FindAsync(threads, caller, threadId, cancellationToken);
        var page = await runs.ListAsync(caller.ProjectId, threadId, query, cancellationToken);
        return TypedResults.Ok(ListResponse.From(page, RunMapping.ToObject, r => r.Id));
    }

    internal static async Task<Ok<RunObject>> GetAsync(string threadId, string runId, HttpContext http, ApiCaller caller, IRunStore runs, CancellationToken cancellationToken)
    {
        var run = await FindAsync(runs, caller, threadId, runId, cancellationToken);
        http.Response.Headers[PollAfterHeader] = PollAfterMs;
        return TypedResults.Ok(run.ToObject());
    }

    internal static async Task<Ok<RunObject>> ModifyAsync(
        string threadId, string runId, HttpContext http, ApiCaller caller, IRunStore runs, RunCommands commands, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.ModifyRunRequest);
        var metadata = request.Metadata is null ? null : Validate.Metadata(request.Metadata);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await FindAsync(runs, caller, threadId, runId, cancellationToken);
            if (await commands.TryModifyAsync(current, metadata, cancellationToken) is { } updated)
            {
                return TypedResults.Ok(updated.ToObject());
            }
        }
        throw ApiErrors.InvalidRequest("The run changed while it was being modified. Try again.");
    }

    internal static async Task<Ok<RunObject>> CancelAsync(string threadId, string runId, HttpContext http, ApiCaller caller, IRunStore runs, RunCommands commands, CancellationToken cancellationToken)
    {
        var run = await FindAsync(runs, caller, threadId, runId, cancellationToken);
        try
        {
            var cancelled = await commands.CancelAsync(run, cancellationToken);
            http.Response.Headers[PollAfterHeader] = PollAfterMs;
            return TypedResults.Ok(cancelled.ToObject());
        }
        catch (RunStateException e)
        {
            throw ApiErrors.InvalidRequest(e.Message);
        }
    }

    internal static async Task<Results<Ok<RunObject>, ServerSentEventsResult<string>>> SubmitToolOutputsAsync(
        string threadId, string runId, HttpContext http, ApiCaller caller, IRunStore runs, RunCommands commands, IRunEventBus hub, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.SubmitToolOutputsRequest);
        var run = await FindAsync(runs, caller, threadId, runId, cancellationToken);
        if (run.Status != RunStatus.RequiresAction || run.RequiredAction is null)
        {
            throw ApiErrors.InvalidRequest($"Runs in status \"{RunTransitions.WireName(run.Status)}\" do not accept tool outputs.");
        }
        var outputs = ToolOutputs(request, run.RequiredAction);
        var subscription = request.Stream == true ? await hub.SubscribeAsync(run.Id, null, cancellationToken) : null;
        Run queued;
        try
        {
            queued = await commands.SubmitToolOutputsAsync(run, outputs, cancellationToken);
        }
        catch (RunStateException e)
        {
            subscription?.Dispose();
            throw ApiErrors.InvalidRequest(e.Message);
        }
        return Respond(http, queued, subscription, [], cancellationToken);
    }

    internal static async Task<Ok<ListResponse<RunStepObject>>> ListStepsAsync(
        string threadId, string runId, HttpRequest request, ApiCaller caller, IRunStore runs, IRunStepStore steps, CancellationToken cancellationToken)
    {
        var query = ListQuery.Parse(request);
        var include = ValidateInclude(request, null);
        await FindAsync(runs, caller, threadId, runId, cancellationToken);
        var page = await steps.ListAsync(caller.ProjectId, threadId, runId, query, cancellationToken);
        return TypedResults.Ok(ListResponse.From(page, s => s.ToObject(include), s => s.Id));
    }

    internal static async Task<Ok<RunStepObject>> GetStepAsync(
        string threadId, string runId, string stepId, HttpRequest request, ApiCaller caller, IRunStepStore steps, CancellationToken cancellationToken)
    {
        var include = ValidateInclude(request, null);
        var step = await steps.FindAsync(caller.ProjectId, threadId, runId, stepId, cancellationToken) ?? throw ApiErrors.NotFound("run step", stepId);
        return TypedResults.Ok(step.ToObject(include));
    }

    private static Results<Ok<RunObject>, ServerSentEventsResult<string>> Respond(
        HttpContext http, Run run, RunSubscription? subscription, IReadOnlyList<RunEvent> prelude, CancellationToken cancellationToken)
    {
        if (subscription is null)
        {
            http.Response.Headers[PollAfterHeader] = PollAfterMs;
            return TypedResults.Ok(run.ToObject());
        }
        // The request's token ends the subscription only; the run lives in the worker.
        var dialect = (http.Items[ApiCaller.ItemKey] as ApiCaller)?.Dialect ?? ApiDialect.V2;
        return TypedResults.ServerSentEvents(RunStreaming.Stream(subscription, prelude, dialect, cancellationToken));
    }

    /// <summary>Every pending call must get exactly one output; outputs that are not strings are kept as their JSON text.</summary>
    private static Dictionary<string, string> ToolOutputs(SubmitToolOutputsRequest request, RequiredAction action)
    {
        if (request.ToolOutputs is null)
        {
            throw ApiErrors.MissingParameter("tool_outputs");
        }
        var pending = action.SubmitToolOutputs.ToolCalls.Select(c => c.Id).ToList();
        var outputs = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < request.ToolOutputs.Count; i++)
        {
            var at = $"tool_outputs[{i}]";
            var output = request.ToolOutputs[i] ?? throw ApiErrors.InvalidRequest($"Invalid type for '{at}': expected an object.", at, "invalid_type");
            if (string.IsNullOrEmpty(output.ToolCallId))
            {
                throw ApiErrors.MissingParameter($"{at}.tool_call_id");
            }
            if (!pending.Contains(output.ToolCallId))
            {
                throw ApiErrors.InvalidRequest($"Invalid '{at}.tool_call_id': no pending tool call with id '{output.ToolCallId}'. Pending: {Quoted(pending)}.", $"{at}.tool_call_id", "invalid_value");
            }
            if (!outputs.TryAdd(output.ToolCallId, OutputText(output.Output)))
            {
                throw ApiErrors.InvalidRequest($"Invalid '{at}.tool_call_id': an output for '{output.ToolCallId}' was already given.", $"{at}.tool_call_id", "invalid_value");
            }
        }
        if (outputs.Count != pending.Count)
        {
            throw ApiErrors.InvalidRequest($"Expected tool outputs for call_ids {Quoted(pending)}, got {Quoted(outputs.Keys)}", "tool_outputs", "invalid_value");
        }
        return outputs;
    }

    // COMPAT: OpenAI types output as a string; notebooks send numbers, so any JSON value is kept as its text.
    private static string OutputText(JsonElement? output) => output switch
    {
        null => "",
        { ValueKind: JsonValueKind.String } s => s.GetString() ?? "",
        { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined } => "",
        { } other => other.GetRawText(),
    };

    private static string Quoted(IEnumerable<string> ids) => "[" + string.Join(", ", ids.Select(id => $"'{id}'")) + "]";

    /// <summary><c>include[]</c> (query, brackets format) or <c>include</c> (body): only the file search content value exists.</summary>
    private static bool ValidateInclude(HttpRequest request, List<string>? body)
    {
        var values = request.Query["include[]"].Concat(request.Query["include"]).Concat(body ?? []).Where(v => !string.IsNullOrEmpty(v)).ToList();
        foreach (var value in values)
        {
            if (value != RunMapping.FileSearchContentInclude)
            {
                throw ApiErrors.InvalidRequest($"Invalid value: '{value}'. Supported values are: '{RunMapping.FileSearchContentInclude}'.", "include", "invalid_value");
            }
        }
        return values.Count > 0;
    }

    private static async Task<Assistant> FindAssistantAsync(IAssistantStore assistants, ApiCaller caller, string? assistantId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(assistantId))
        {
            throw ApiErrors.MissingParameter("assistant_id");
        }
        return await assistants.FindAsync(caller.ProjectId, assistantId, cancellationToken) ?? throw ApiErrors.NotFound("assistant", assistantId);
    }

    internal static async Task<Run> FindAsync(IRunStore runs, ApiCaller caller, string threadId, string runId, CancellationToken cancellationToken) =>
        await runs.FindAsync(caller.ProjectId, threadId, runId, cancellationToken) ?? throw ApiErrors.NotFound("run", runId);

    private sealed record RunSettings(
        string? Model, string? Instructions, string? AdditionalInstructions, List<ToolDefinition?>? Tools, Dictionary<string, string>? Metadata,
        double? Temperature, double? TopP, int? MaxPromptTokens, int? MaxCompletionTokens, TruncationStrategyRequest? TruncationStrategy,
        ToolChoice? ToolChoice, bool? ParallelToolCalls, ResponseFormat? ResponseFormat, string? ReasoningEffort);

    /// <summary>Validates the overrides and resolves the effective settings: the run's, else the assistant's.</summary>
    private static Run BuildRun(RunSettings request, Assistant assistant, string threadId, ApiCaller caller, IIdGenerator ids, TimeProvider time)
    {
        var tools = request.Tools is null ? assistant.Tools : Validate.Tools(request.Tools, caller.Dialect);
        MinTokens(request.MaxPromptTokens, "max_prompt_tokens");
        MinTokens(request.MaxCompletionTokens, "max_completion_tokens");
        var truncation = TruncationStrategy.Auto;
        if (request.TruncationStrategy is { } strategy)
        {
            if (strategy.Type is not ("auto" or "last_messages"))
            {
                throw strategy.Type is null
                    ? ApiErrors.MissingParameter("truncation_strategy.type")
                    : ApiErrors.InvalidRequest($"Invalid value: '{strategy.Type}'. Supported values are: 'auto' and 'last_messages'.", "truncation_strategy.type", "invalid_value");
            }
            if (strategy.LastMessages is { } n && n < 1)
            {
                throw ApiErrors.InvalidRequest($"Invalid 'truncation_strategy.last_messages': integer below minimum value. Expected a value >= 1, but got {n} instead.", "truncation_strategy.last_messages", "integer_below_min_value");
            }
            if (strategy.Type == "last_messages" && strategy.LastMessages is null)
            {
                throw ApiErrors.MissingParameter("truncation_strategy.last_messages");
            }
            truncation = new TruncationStrategy(strategy.Type, strategy.LastMessages);
        }
        var toolChoice = request.ToolChoice ?? ToolChoice.Auto;
        switch (toolChoice)
        {
            case { ToolType: "function", FunctionName: { } name } when !tools.OfType<FunctionToolDefinition>().Any(f => f.Function.Name == name):
                throw ApiErrors.InvalidRequest($"Invalid 'tool_choice': the function '{name}' is not among the run's tools.", "tool_choice.function.name", "invalid_value");
            case { ToolType: "code_interpreter" } when !tools.OfType<CodeInterpreterToolDefinition>().Any():
            case { ToolType: "file_search" } when !tools.OfType<FileSearchToolDefinition>().Any():
                throw ApiErrors.InvalidRequest($"Invalid 'tool_choice': the tool '{toolChoice.ToolType}' is not among the run's tools.", "tool_choice.type", "invalid_value");
        }
        var instructions = Validate.MaxLength(request.Instructions, "instructions", Validate.MaxInstructions) ?? assistant.Instructions ?? "";
        if (!string.IsNullOrEmpty(Validate.MaxLength(request.AdditionalInstructions, "additional_instructions", Validate.MaxInstructions)))
        {
            instructions = instructions.Length == 0 ? request.AdditionalInstructions! : $"{instructions}\n\n{request.AdditionalInstructions}";
        }
        var now = time.GetUtcNow();
        return new Run(
            ids.NewId(Ids.Run), caller.ProjectId, now, threadId, assistant.Id, RunStatus.Queued,
            string.IsNullOrEmpty(request.Model) ? assistant.Model : request.Model,
            instructions, tools, Validate.Metadata(request.Metadata),
            Validate.Range(request.Temperature, "temperature", 0, 2) ?? assistant.Temperature ?? 1.0,
            Validate.Range(request.TopP, "top_p", 0, 1) ?? assistant.TopP ?? 1.0,
            request.MaxPromptTokens, request.MaxCompletionTokens, truncation, toolChoice,
            request.ParallelToolCalls ?? true,
            Validate.ResponseFormat(request.ResponseFormat) ?? assistant.ResponseFormat ?? ResponseFormat.Auto,
            ExpiresAt: now + RunTransitions.ExpiresAfter,
            ReasoningEffort: Validate.ReasoningEffort(request.ReasoningEffort) ?? assistant.ReasoningEffort,
            V1FileIds: assistant.V1Files);
    }

    private static void MinTokens(int? value, string param)
    {
        if (value is { } v && v < MinTokenLimit)
        {
            throw ApiErrors.InvalidRequest($"Invalid '{param}': integer below minimum value. Expected a value >= {MinTokenLimit}, but got {v} instead.", param, "integer_below_min_value");
        }
    }
}
