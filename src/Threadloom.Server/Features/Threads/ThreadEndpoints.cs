using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.CodeInterpreter;
using Threadloom.Server.Features.Messages;
using Threadloom.Server.Features.VectorStores;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Threads;

public static class ThreadEndpoints
{
    public static RouteGroupBuilder MapThreadEndpoints(this RouteGroupBuilder api)
    {
        var threads = api.MapGroup("/threads").WithTags("Threads");
        threads.MapPost("/", CreateAsync).WithName("createThread");
        // COMPAT: OpenAI never offered a thread list; Azure's samples call one, and users ask for it.
        threads.MapGet("/", ListAsync).WithName("listThreads");
        threads.MapGet("/{threadId}", GetAsync).WithName("getThread");
        threads.MapPost("/{threadId}", ModifyAsync).WithName("modifyThread");
        threads.MapDelete("/{threadId}", DeleteAsync).WithName("deleteThread");
        return api;
    }

    internal static async Task<Ok<ThreadObject>> CreateAsync(
        HttpContext http, ApiCaller caller, IThreadStore store, ToolResourcesBinder binder, MessageFactory messages, ThreadFileSearch fileSearch, IIdGenerator ids,
        TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateThreadRequest, optional: true);
        var (thread, initial) = await BuildAsync(request, caller, binder, messages, ids, time, "", cancellationToken);
        await store.CreateAsync(thread, initial, cancellationToken);
        thread = await fileSearch.AttachAsync(thread, initial, cancellationToken);
        return TypedResults.Ok(thread.ToObject());
    }

    /// <summary>Validates a thread create request into the thread and its initial messages; also used by create-thread-and-run.</summary>
    internal static async Task<(AssistantThread Thread, List<ThreadMessage> Messages)> BuildAsync(
        CreateThreadRequest request, ApiCaller caller, ToolResourcesBinder binder, MessageFactory messages, IIdGenerator ids, TimeProvider time, string param, CancellationToken cancellationToken)
    {
        string At(string field) => param.Length == 0 ? field : $"{param}.{field}";
        var threadId = ids.NewId(Ids.Thread);
        var metadata = Validate.Metadata(request.Metadata, At("metadata"));
        var resources = await binder.ResolveAsync(request.ToolResources, caller, cancellationToken, At("tool_resources"));
        var initial = new List<ThreadMessage>();
        for (var i = 0; request.Messages is not null && i < request.Messages.Count; i++)
        {
            var message = request.Messages[i] ?? throw ApiErrors.InvalidRequest($"Invalid type for '{At("messages")}[{i}]': expected an object.", $"{At("messages")}[{i}]", "invalid_type");
            initial.Add(await messages.CreateAsync(message, threadId, caller, $"{At("messages")}[{i}]", cancellationToken));
        }
        return (new AssistantThread(threadId, caller.ProjectId, time.GetUtcNow(), resources, metadata), initial);
    }

    internal static async Task<Ok<ListResponse<ThreadObject>>> ListAsync(HttpRequest request, ApiCaller caller, IThreadStore store, CancellationToken cancellationToken)
    {
        var page = await store.ListAsync(caller.ProjectId, ListQuery.Parse(request), cancellationToken);
        return TypedResults.Ok(ListResponse.From(page, ThreadMapping.ToObject, t => t.Id));
    }

    internal static async Task<Ok<ThreadObject>> GetAsync(string threadId, ApiCaller caller, IThreadStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await FindAsync(store, caller, threadId, cancellationToken)).ToObject());

    internal static async Task<Ok<ThreadObject>> ModifyAsync(
        string threadId, HttpContext http, ApiCaller caller, IThreadStore store, ToolResourcesBinder binder, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.ModifyThreadRequest);
        var current = await FindAsync(store, caller, threadId, cancellationToken);
        var updated = current with
        {
            Metadata = request.Metadata is null ? current.Metadata : Validate.Metadata(request.Metadata),
            ToolResources = request.ToolResources is null ? current.ToolResources : await binder.ResolveAsync(request.ToolResources, caller, cancellationToken),
        };
        return await store.UpdateAsync(updated, cancellationToken)
            ? TypedResults.Ok(updated.ToObject())
            : throw ApiErrors.NotFound("thread", threadId);
    }

    /// <summary>Deletes the thread and ends its code interpreter session (its kernel and <c>/mnt/data</c> folder) on whichever node holds it.</summary>
    internal static async Task<Ok<DeletionStatus>> DeleteAsync(string threadId, ApiCaller caller, IThreadStore store, ICodeSessionCloser sessions, CancellationToken cancellationToken)
    {
        if (!await store.DeleteAsync(caller.ProjectId, threadId, cancellationToken))
        {
            throw ApiErrors.NotFound("thread", threadId);
        }
        await sessions.CloseEverywhereAsync(threadId, CancellationToken.None);
        return TypedResults.Ok(new DeletionStatus(threadId, "thread.deleted", true));
    }

    internal static async Task<AssistantThread> FindAsync(IThreadStore store, ApiCaller caller, string id, CancellationToken cancellationToken) =>
        await store.FindAsync(caller.ProjectId, id, cancellationToken) ?? throw ApiErrors.NotFound("thread", id);
}

internal static class ThreadMapping
{
    public static ThreadObject ToObject(this AssistantThread t) =>
        new(t.Id, t.CreatedAt.ToUnixTimeSeconds(), t.ToolResources ?? ToolResources.Empty, t.Metadata);
}
