using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Messages;

/// <summary>A <c>thread.message.file</c> (Assistants v1): its <c>id</c> is the file's id.</summary>
public sealed record MessageFileObject(string Id, long CreatedAt, string MessageId)
{
    public string Object => "thread.message.file";
}

/// <summary>
/// The Assistants v1 endpoints <c>/threads/{t}/messages/{m}/files[/{file_id}]</c>, served to v1 callers only: a
/// message's files are its attachments (a v1 <c>file_ids</c> entry is stored as one), dated from the message.
/// </summary>
public static class MessageFileEndpoints
{
    public static RouteGroupBuilder MapMessageFileEndpoints(this RouteGroupBuilder api)
    {
        var files = api.MapGroup("/threads/{threadId}/messages/{messageId}/files").WithTags("Messages");
        files.MapGet("/", ListAsync).WithName("listMessageFiles");
        files.MapGet("/{fileId}", GetAsync).WithName("getMessageFile");
        return api;
    }

    internal static async Task<Ok<ListResponse<MessageFileObject>>> ListAsync(
        string threadId, string messageId, HttpContext http, ApiCaller caller, IMessageStore store, CancellationToken cancellationToken)
    {
        AssistantFileEndpoints.V1Only(http, caller);
        var query = ListQuery.Parse(http.Request);
        var message = await MessageEndpoints.FindAsync(store, caller, threadId, messageId, cancellationToken);
        return TypedResults.Ok(ListResponse.FromMemory(FilesOf(message), query, f => f.Id, f => f.CreatedAt));
    }

    internal static async Task<Ok<MessageFileObject>> GetAsync(
        string threadId, string messageId, string fileId, HttpContext http, ApiCaller caller, IMessageStore store, CancellationToken cancellationToken)
    {
        AssistantFileEndpoints.V1Only(http, caller);
        var message = await MessageEndpoints.FindAsync(store, caller, threadId, messageId, cancellationToken);
        return FilesOf(message).FirstOrDefault(f => f.Id == fileId) is { } file
            ? TypedResults.Ok(file)
            : throw ApiErrors.NotFound("message file", fileId);
    }

    private static List<MessageFileObject> FilesOf(ThreadMessage message) =>
        message.Attachments.Select(a => a.FileId).Distinct(StringComparer.Ordinal)
            .Select(id => new MessageFileObject(id, message.CreatedAt.ToUnixTimeSeconds(), message.Id))
            .ToList();
}
