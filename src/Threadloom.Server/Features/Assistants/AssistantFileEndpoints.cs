using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Domain;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Server.Features.VectorStores;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Assistants;

public sealed class CreateAssistantFileRequest
{
    public string? FileId { get; init; }
}

/// <summary>An <c>assistant.file</c> (Assistants v1): its <c>id</c> is the file's id.</summary>
public sealed record AssistantFileObject(string Id, long CreatedAt, string AssistantId)
{
    public string Object => "assistant.file";
}

/// <summary>
/// The Assistants v1 endpoints <c>/assistants/{id}/files[/{file_id}]</c>, served to v1 callers only (v2 has no such
/// paths). They edit the assistant's v1 <c>file_ids</c> and keep what the tools read in step: a file attached to an
/// assistant with <c>code_interpreter</c> joins its code interpreter files, and one attached to an assistant with
/// <c>retrieval</c> joins its vector store (made on first use), so the next run sees it in <c>/mnt/data</c> and in
/// its searches. Detaching undoes both.
/// </summary>
public static class AssistantFileEndpoints
{
    public static RouteGroupBuilder MapAssistantFileEndpoints(this RouteGroupBuilder api)
    {
        var files = api.MapGroup("/assistants/{assistantId}/files").WithTags("Assistants");
        files.MapPost("/", CreateAsync).WithName("createAssistantFile");
        files.MapGet("/", ListAsync).WithName("listAssistantFiles");
        files.MapGet("/{fileId}", GetAsync).WithName("getAssistantFile");
        files.MapDelete("/{fileId}", DeleteAsync).WithName("deleteAssistantFile");
        return api;
    }

    internal static async Task<Ok<AssistantFileObject>> CreateAsync(
        string assistantId, HttpContext http, ApiCaller caller, IAssistantStore store, IFileStore files, IVectorStoreStore vectorStores,
        VectorStoreService vectorStoreService, TimeProvider time, CancellationToken cancellationToken)
    {
        V1Only(http, caller);
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateAssistantFileRequest);
        if (string.IsNullOrEmpty(request.FileId))
        {
            throw ApiErrors.MissingParameter("file_id");
        }
        var fileId = request.FileId;
        var assistant = await AssistantEndpoints.FindAsync(store, caller, assistantId, cancellationToken);
        if (assistant.V1Files.Contains(fileId, StringComparer.Ordinal))
        {
            return TypedResults.Ok(ToObject(assistant, fileId));
        }
        if (await files.FindAsync(caller.ProjectId, fileId, cancellationToken) is null)
        {
            throw ApiErrors.InvalidRequest($"Invalid 'file_id': no file found with id '{fileId}'.", "file_id", "invalid_value");
        }
        if (assistant.V1Files.Count >= Validate.MaxCodeInterpreterFiles)
        {
            throw ApiErrors.ArrayTooLong("file_ids", Validate.MaxCodeInterpreterFiles, assistant.V1Files.Count + 1);
        }
        var fileIds = assistant.V1Files.Append(fileId).ToList();
        var resources = assistant.ToolResources ?? ToolResources.Empty;
        var codeInterpreter = resources.CodeInterpreter;
        if (assistant.Tools.Any(t => t is CodeInterpreterToolDefinition))
        {
            codeInterpreter = new CodeInterpreterResources([.. (codeInterpreter?.FileIds ?? []).Where(id => id != fileId), fileId]);
        }
        var fileSearch = resources.FileSearch;
        if (assistant.Tools.Any(t => t is FileSearchToolDefinition))
        {
            if (fileSearch?.VectorStoreIds is [var storeId, ..] && await vectorStores.FindAsync(caller.ProjectId, storeId, cancellationToken) is not null)
            {
                await vectorStoreService.AddFilesAsync(caller.ProjectId, storeId, [new VectorStoreFileInput(fileId, StaticChunkingStrategy.Default, null)], null, cancellationToken);
            }
            else
            {
                // COMPAT: v1 retrieval read the assistant's files directly; v2 searches a vector store, so one is made.
                var created = await vectorStoreService.CreateAsync(caller.ProjectId, "Assistant files (v1 file_ids)", null, new Dictionary<string, string>(), null,
                    [fileId], StaticChunkingStrategy.Default, "file_id", cancellationToken);
                fileSearch = new FileSearchResources([created.Id]);
            }
        }
        var attachedAt = new Dictionary<string, DateTimeOffset>(assistant.V1FilesAttachedAt ?? new Dictionary<string, DateTimeOffset>(), StringComparer.Ordinal)
        {
            [fileId] = time.GetUtcNow(),
        };
        var updated = assistant with
        {
            V1FileIds = fileIds,
            V1FilesAttachedAt = attachedAt,
            ToolResources = new ToolResources(codeInterpreter, fileSearch),
        };
        if (!await store.UpdateAsync(updated, cancellationToken))
        {
            throw ApiErrors.NotFound("assistant", assistantId);
        }
        return TypedResults.Ok(ToObject(updated, fileId));
    }

    internal static async Task<Ok<ListResponse<AssistantFileObject>>> ListAsync(
        string assistantId, HttpContext http, ApiCaller caller, IAssistantStore store, CancellationToken cancellationToken)
    {
        V1Only(http, caller);
        var query = ListQuery.Parse(http.Request);
        var assistant = await AssistantEndpoints.FindAsync(store, caller, assistantId, cancellationToken);
        var all = assistant.V1Files.Select(id => ToObject(assistant, id)).ToList();
        return TypedResults.Ok(ListResponse.FromMemory(all, query, f => f.Id, f => f.CreatedAt));
    }

    internal static async Task<Ok<AssistantFileObject>> GetAsync(
        string assistantId, string fileId, HttpContext http, ApiCaller caller, IAssistantStore store, CancellationToken cancellationToken)
    {
        V1Only(http, caller);
        var assistant = await AssistantEndpoints.FindAsync(store, caller, assistantId, cancellationToken);
        return assistant.V1Files.Contains(fileId, StringComparer.Ordinal)
            ? TypedResults.Ok(ToObject(assistant, fileId))
            : throw ApiErrors.NotFound("assistant file", fileId);
    }

    internal static async Task<Ok<DeletionStatus>> DeleteAsync(
        string assistantId, string fileId, HttpContext http, ApiCaller caller, IAssistantStore store, IVectorStoreStore vectorStores, IChunkIndex index,
        CancellationToken cancellationToken)
    {
        V1Only(http, caller);
        var assistant = await AssistantEndpoints.FindAsync(store, caller, assistantId, cancellationToken);
        if (!assistant.V1Files.Contains(fileId, StringComparer.Ordinal))
        {
            throw ApiErrors.NotFound("assistant file", fileId);
        }
        var resources = assistant.ToolResources ?? ToolResources.Empty;
        var codeInterpreter = resources.CodeInterpreter is { } ci ? new CodeInterpreterResources([.. ci.FileIds.Where(id => id != fileId)]) : null;
        foreach (var storeId in resources.FileSearch?.VectorStoreIds ?? [])
        {
            if (await vectorStores.DeleteFileAsync(caller.ProjectId, storeId, fileId, cancellationToken))
            {
                await index.DeleteFileAsync(caller.ProjectId, storeId, fileId, cancellationToken);
            }
        }
        var attachedAt = assistant.V1FilesAttachedAt?.Where(p => p.Key != fileId).ToDictionary(StringComparer.Ordinal);
        var updated = assistant with
        {
            V1FileIds = [.. assistant.V1Files.Where(id => id != fileId)],
            V1FilesAttachedAt = attachedAt,
            ToolResources = new ToolResources(codeInterpreter, resources.FileSearch),
        };
        if (!await store.UpdateAsync(updated, cancellationToken))
        {
            throw ApiErrors.NotFound("assistant", assistantId);
        }
        return TypedResults.Ok(new DeletionStatus(fileId, "assistant.file.deleted", true));
    }

    private static AssistantFileObject ToObject(Assistant assistant, string fileId) =>
        new(fileId, assistant.V1FileAttachedAt(fileId).ToUnixTimeSeconds(), assistant.Id);

    /// <summary>v2 has no such path: a v2 caller gets the unknown-route 404, as OpenAI answers it.</summary>
    internal static void V1Only(HttpContext http, ApiCaller caller)
    {
        if (!caller.IsV1)
        {
            throw new ApiException(StatusCodes.Status404NotFound,
                new ErrorBody($"Invalid URL ({http.Request.Method} {http.Request.Path})", "invalid_request_error", null, null));
        }
    }
}
