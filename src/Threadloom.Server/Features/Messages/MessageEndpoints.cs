using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Server.Features.Threads;
using Threadloom.Server.Features.VectorStores;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Messages;

public static class MessageEndpoints
{
    public static RouteGroupBuilder MapMessageEndpoints(this RouteGroupBuilder api)
    {
        var messages = api.MapGroup("/threads/{threadId}/messages").WithTags("Messages");
        messages.MapPost("/", CreateAsync).WithName("createMessage");
        messages.MapGet("/", ListAsync).WithName("listMessages");
        messages.MapGet("/{messageId}", GetAsync).WithName("getMessage");
        messages.MapPost("/{messageId}", ModifyAsync).WithName("modifyMessage");
        messages.MapDelete("/{messageId}", DeleteAsync).WithName("deleteMessage");
        return api;
    }

    internal static async Task<Ok<MessageObject>> CreateAsync(
        string threadId, HttpContext http, ApiCaller caller, IThreadStore threads, IMessageStore store, MessageFactory factory, ThreadGuard guard,
        ThreadFileSearch fileSearch, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateMessageRequest);
        var thread = await ThreadEndpoints.FindAsync(threads, caller, threadId, cancellationToken);
        var message = await factory.CreateAsync(request, threadId, caller, "", cancellationToken);
        await guard.EnsureNoActiveRunAsync(caller.ProjectId, threadId, cancellationToken);
        await fileSearch.EnsureAttachableAsync(thread, [message], cancellationToken);
        await store.CreateAsync(message, cancellationToken);
        await fileSearch.AttachAsync(thread, [message], cancellationToken);
        return TypedResults.Ok(message.ToObject());
    }

    internal static async Task<Ok<ListResponse<MessageObject>>> ListAsync(
        string threadId, HttpRequest request, ApiCaller caller, IThreadStore threads, IMessageStore store, CancellationToken cancellationToken)
    {
        var query = ListQuery.Parse(request);
        await ThreadEndpoints.FindAsync(threads, caller, threadId, cancellationToken);
        var runId = request.Query["run_id"].ToString();
        var page = await store.ListAsync(caller.ProjectId, threadId, runId.Length == 0 ? null : runId, query, cancellationToken);
        return TypedResults.Ok(ListResponse.From(page, MessageMapping.ToObject, m => m.Id));
    }

    internal static async Task<Ok<MessageObject>> GetAsync(string threadId, string messageId, ApiCaller caller, IMessageStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await FindAsync(store, caller, threadId, messageId, cancellationToken)).ToObject());

    internal static async Task<Ok<MessageObject>> ModifyAsync(
        string threadId, string messageId, HttpContext http, ApiCaller caller, IMessageStore store, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.ModifyMessageRequest);
        var current = await FindAsync(store, caller, threadId, messageId, cancellationToken);
        var updated = current with { Metadata = request.Metadata is null ? current.Metadata : Validate.Metadata(request.Metadata) };
        return await store.UpdateAsync(updated, cancellationToken)
            ? TypedResults.Ok(updated.ToObject())
            : throw ApiErrors.NotFound("message", messageId);
    }

    internal static async Task<Ok<DeletionStatus>> DeleteAsync(string threadId, string messageId, ApiCaller caller, IMessageStore store, CancellationToken cancellationToken) =>
        await store.DeleteAsync(caller.ProjectId, threadId, messageId, cancellationToken)
            ? TypedResults.Ok(new DeletionStatus(messageId, "thread.message.deleted", true))
            : throw ApiErrors.NotFound("message", messageId);

    internal static async Task<ThreadMessage> FindAsync(IMessageStore store, ApiCaller caller, string threadId, string id, CancellationToken cancellationToken) =>
        await store.FindAsync(caller.ProjectId, threadId, id, cancellationToken) ?? throw ApiErrors.NotFound("message", id);
}
