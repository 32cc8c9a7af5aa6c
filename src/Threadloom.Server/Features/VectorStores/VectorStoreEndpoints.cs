using Threadloom.Core.Ingestion;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.VectorStores;

/// <summary>Vector stores, vector store files, file batches and search (DIGEST §3, endpoints 33–48).</summary>
public static class VectorStoreEndpoints
{
    public static RouteGroupBuilder MapVectorStoreEndpoints(this RouteGroupBuilder api)
    {
        var stores = api.MapGroup("/vector_stores").WithTags("Vector stores");
        stores.MapGet("/", ListAsync).WithName("listVectorStores");
        stores.MapPost("/", CreateAsync).WithName("createVectorStore");
        stores.MapGet("/{vectorStoreId}", GetAsync).WithName("getVectorStore");
        stores.MapPost("/{vectorStoreId}", ModifyAsync).WithName("modifyVectorStore");
        stores.MapDelete("/{vectorStoreId}", DeleteAsync).WithName("deleteVectorStore");
        stores.MapPost("/{vectorStoreId}/search", SearchAsync).WithName("searchVectorStore");

        stores.MapGet("/{vectorStoreId}/files", ListFilesAsync).WithName("listVectorStoreFiles");
        stores.MapPost("/{vectorStoreId}/files", CreateFileAsync).WithName("createVectorStoreFile");
        stores.MapGet("/{vectorStoreId}/files/{fileId}", GetFileAsync).WithName("getVectorStoreFile");
        stores.MapPost("/{vectorStoreId}/files/{fileId}", UpdateFileAsync).WithName("updateVectorStoreFileAttributes");
        stores.MapDelete("/{vectorStoreId}/files/{fileId}", DeleteFileAsync).WithName("deleteVectorStoreFile");
        stores.MapGet("/{vectorStoreId}/files/{fileId}/content", GetFileContentAsync).WithName("retrieveVectorStoreFileContent");

        stores.MapPost("/{vectorStoreId}/file_batches", CreateBatchAsync).WithName("createVectorStoreFileBatch");
        stores.MapGet("/{vectorStoreId}/file_batches/{batchId}", GetBatchAsync).WithName("getVectorStoreFileBatch");
        stores.MapPost("/{vectorStoreId}/file_batches/{batchId}/cancel", CancelBatchAsync).WithName("cancelVectorStoreFileBatch");
        stores.MapGet("/{vectorStoreId}/file_batches/{batchId}/files", ListBatchFilesAsync).WithName("listFilesInVectorStoreBatch");
        return api;
    }

    internal static async Task<Ok<VectorStoreObject>> CreateAsync(
        HttpContext http, ApiCaller caller, IVectorStoreStore stores, VectorStoreService service, TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateVectorStoreRequest, optional: true);
        var fileIds = request.FileIds ?? [];
        if (fileIds.Count > VectorStoreService.MaxFilesPerCreate)
        {
            throw ApiErrors.ArrayTooLong("file_ids", VectorStoreService.MaxFilesPerCreate, fileIds.Count);
        }
        var store = await service.CreateAsync(caller.ProjectId,
            Validate.MaxLength(request.Name, "name", Validate.MaxName),
            Validate.MaxLength(request.Description, "description", Validate.MaxDescription),
            Validate.Metadata(request.Metadata),
            VectorStoreService.ParseExpiresAfter(request.ExpiresAfter),
            fileIds, VectorStoreService.ParseChunkingStrategy(request.ChunkingStrategy), "file_ids", cancellationToken);
        return TypedResults.Ok((await FindAsync(stores, caller, store.Id, cancellationToken)).ToObject(time.GetUtcNow()));
    }

    internal static async Task<Ok<ListResponse<VectorStoreObject>>> ListAsync(HttpRequest request, ApiCaller caller, IVectorStoreStore stores, TimeProvider time, CancellationToken cancellationToken)
    {
        var page = await stores.ListAsync(caller.ProjectId, ListQuery.Parse(request), cancellationToken);
        var now = time.GetUtcNow();
        return TypedResults.Ok(ListResponse.From(page, s => s.ToObject(now), s => s.Id));
    }

    internal static async Task<Ok<VectorStoreObject>> GetAsync(string vectorStoreId, ApiCaller caller, IVectorStoreStore stores, TimeProvider time, CancellationToken cancellationToken) =>
        TypedResults.Ok((await FindAsync(stores, caller, vectorStoreId, cancellationToken)).ToObject(time.GetUtcNow()));

    internal static async Task<Ok<VectorStoreObject>> ModifyAsync(
        string vectorStoreId, HttpContext http, ApiCaller caller, IVectorStoreStore stores, TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.ModifyVectorStoreRequest);
        var current = (await FindAsync(stores, caller, vectorStoreId, cancellationToken)).Store;
        if (request.ExpiresAfterGiven)
        {
            // A longer expires_after, or none, would move expires_at past now and bring an expired store back.
            VectorStoreService.EnsureNotExpired(current, time.GetUtcNow(), "expires_after");
        }
        var updated = current with
        {
            Name = Validate.MaxLength(request.Name, "name", Validate.MaxName) ?? current.Name,
            // expires_after: null clears the expiry, as OpenAI's modify does.
            ExpiresAfter = request.ExpiresAfterGiven ? VectorStoreService.ParseExpiresAfter(request.ExpiresAfter) : current.ExpiresAfter,
            Metadata = request.Metadata is null ? current.Metadata : Validate.Metadata(request.Metadata),
        };
        if (!await stores.UpdateAsync(updated, cancellationToken))
        {
            throw ApiErrors.NotFound("vector store", vectorStoreId);
        }
        return TypedResults.Ok((await FindAsync(stores, caller, vectorStoreId, cancellationToken)).ToObject(time.GetUtcNow()));
    }

    internal static async Task<Ok<DeletionStatus>> DeleteAsync(string vectorStoreId, ApiCaller caller, IVectorStoreStore stores, IChunkIndex index,
        IngestionCancellations ingestion, CancellationToken cancellationToken)
    {
        if (!await stores.DeleteAsync(caller.ProjectId, vectorStoreId, cancellationToken))
        {
            throw ApiErrors.NotFound("vector store", vectorStoreId);
        }
        // The row is gone: stop its running jobs on this node now (other nodes stop at their next heartbeat).
        ingestion.CancelStore(caller.ProjectId, vectorStoreId);
        await index.DeleteVectorStoreAsync(caller.ProjectId, vectorStoreId, cancellationToken);
        return TypedResults.Ok(new DeletionStatus(vectorStoreId, "vector_store.deleted", true));
    }

    internal static async Task<Ok<VectorStoreSearchResultsPage>> SearchAsync(
        string vectorStoreId, HttpContext http, ApiCaller caller, IVectorStoreStore stores, IServiceProvider services, TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.SearchVectorStoreRequest);
        VectorStoreService.EnsureNotExpired((await FindAsync(stores, caller, vectorStoreId, cancellationToken)).Store, time.GetUtcNow());
        var queries = request.Query switch
        {
            null or { ValueKind: JsonValueKind.Null } => throw ApiErrors.MissingParameter("query"),
            { ValueKind: JsonValueKind.String } q => [q.GetString()!],
            { ValueKind: JsonValueKind.Array } q when q.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => q.EnumerateArray().Select(e => e.GetString()!).ToList(),
            _ => throw ApiErrors.InvalidRequest("Invalid type for 'query': expected a string or an array of strings.", "query", "invalid_type"),
        };
        if (queries.Count == 0 || queries.All(string.IsNullOrWhiteSpace))
        {
            throw ApiErrors.InvalidRequest("Invalid 'query': expected a non-empty string or array of strings.", "query", "invalid_value");
        }
        var maxResults = request.MaxNumResults ?? 10;
        if (maxResults is < 1 or > FileSearchQuery.MaxMaxNumResults)
        {
            throw ApiErrors.InvalidRequest($"Invalid 'max_num_results': expected a value between 1 and {FileSearchQuery.MaxMaxNumResults}, but got {maxResults} instead.", "max_num_results", "invalid_value");
        }
        if (request.RankingOptions?.Ranker is { } ranker && ranker is not ("auto" or "none" or "default-2024-11-15" or "default_2024_08_21"))
        {
            throw ApiErrors.InvalidRequest($"Invalid value: '{ranker}'. Supported values are: 'none', 'auto' and 'default-2024-11-15'.", "ranking_options.ranker", "invalid_value");
        }
        var threshold = Validate.Range(request.RankingOptions?.ScoreThreshold, "ranking_options.score_threshold", 0, 1) ?? 0;
        AttributeFilter? filter = null;
        if (request.Filters is { ValueKind: not JsonValueKind.Null } filters)
        {
            filter = AttributeFilter.Parse(filters, out var error) ?? throw ApiErrors.InvalidRequest(error ?? "Invalid 'filters'.", "filters", "invalid_value");
        }
        // COMPAT: rewrite_query is a deterministic rewrite (QueryRewriter), not a model call as on OpenAI.
        var rewrite = request.RewriteQuery == true;
        var search = services.GetRequiredService<HybridFileSearch>();
        var results = await search.SearchAsync(new FileSearchQuery(caller.ProjectId, [vectorStoreId], queries, maxResults, threshold, filter, RewriteQuery: rewrite), cancellationToken);
        await stores.TouchAsync(caller.ProjectId, [vectorStoreId], time.GetUtcNow(), cancellationToken);
        var data = results.Select(r => new VectorStoreSearchResultObject(r.FileId, r.FileName, Math.Round(r.Score, 6),
            r.Attributes ?? new Dictionary<string, JsonElement>(), [new ContentTextObject(r.Text)])).ToList();
        return TypedResults.Ok(new VectorStoreSearchResultsPage(rewrite ? queries.Select(QueryRewriter.Rewrite).ToList() : queries, data, false, null));
    }

    internal static async Task<Ok<VectorStoreFileObject>> CreateFileAsync(
        string vectorStoreId, HttpContext http, ApiCaller caller, IVectorStoreStore stores, IFileStore files, VectorStoreService service, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateVectorStoreFileRequest);
        VectorStoreService.EnsureNotExpired((await FindAsync(stores, caller, vectorStoreId, cancellationToken)).Store, time.GetUtcNow());
        var input = await FileInputAsync(request, files, caller, "", null, null, cancellationToken);
        var row = (await service.AddFilesAsync(caller.ProjectId, vectorStoreId, [input], null, cancellationToken))[0];
        return TypedResults.Ok(row.ToObject());
    }

    internal static async Task<Ok<ListResponse<VectorStoreFileObject>>> ListFilesAsync(
        string vectorStoreId, HttpRequest request, ApiCaller caller, IVectorStoreStore stores, CancellationToken cancellationToken)
    {
        var query = ListQuery.Parse(request);
        var status = StatusFilter(request);
        await FindAsync(stores, caller, vectorStoreId, cancellationToken);
        var page = await stores.ListFilesAsync(caller.ProjectId, vectorStoreId, null, status, query, cancellationToken);
        return TypedResults.Ok(ListResponse.From(page, VectorStoreMapping.ToObject, f => f.Id));
    }

    internal static async Task<Ok<VectorStoreFileObject>> GetFileAsync(string vectorStoreId, string fileId, ApiCaller caller, IVectorStoreStore stores, CancellationToken cancellationToken) =>
        TypedResults.Ok((await FindFileAsync(stores, caller, vectorStoreId, fileId, cancellationToken)).ToObject());

    internal static async Task<Ok<VectorStoreFileObject>> UpdateFileAsync(
        string vectorStoreId, string fileId, HttpContext http, ApiCaller caller, IVectorStoreStore stores, IChunkIndex index, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.UpdateVectorStoreFileRequest);
        if (request.Attributes is null)
        {
            throw ApiErrors.MissingParameter("attributes");
        }
        var attributes = VectorStoreService.ValidateAttributes(request.Attributes);
        var current = await FindFileAsync(stores, caller, vectorStoreId, fileId, cancellationToken);
        if (!await stores.UpdateFileAsync(current with { Attributes = attributes }, cancellationToken))
        {
            throw ApiErrors.NotFound("vector store file", fileId);
        }
        // Filters read the attributes from the index; a file still in progress gets them when its chunks are written.
        await index.UpdateAttributesAsync(caller.ProjectId, vectorStoreId, fileId, attributes, cancellationToken);
        return TypedResults.Ok((await FindFileAsync(stores, caller, vectorStoreId, fileId, cancellationToken)).ToObject());
    }

    internal static async Task<Ok<DeletionStatus>> DeleteFileAsync(
        string vectorStoreId, string fileId, ApiCaller caller, IVectorStoreStore stores, IChunkIndex index, IngestionCancellations ingestion, CancellationToken cancellationToken)
    {
        if (!await stores.DeleteFileAsync(caller.ProjectId, vectorStoreId, fileId, cancellationToken))
        {
            throw ApiErrors.NotFound("vector store file", fileId);
        }
        ingestion.CancelFile(caller.ProjectId, vectorStoreId, fileId);
        await index.DeleteFileAsync(caller.ProjectId, vectorStoreId, fileId, cancellationToken);
        return TypedResults.Ok(new DeletionStatus(fileId, "vector_store.file.deleted", true));
    }

    internal static async Task<Ok<VectorStoreFileContentPage>> GetFileContentAsync(
        string vectorStoreId, string fileId, ApiCaller caller, IVectorStoreStore stores, IChunkIndex index, CancellationToken cancellationToken)
    {
        await FindFileAsync(stores, caller, vectorStoreId, fileId, cancellationToken);
        var chunks = await index.ReadFileChunksAsync(caller.ProjectId, vectorStoreId, fileId, cancellationToken);
        return TypedResults.Ok(new VectorStoreFileContentPage([.. chunks.Select(c => new ContentTextObject(c))], false, null));
    }

    internal static async Task<Ok<VectorStoreFileBatchObject>> CreateBatchAsync(
        string vectorStoreId, HttpContext http, ApiCaller caller, IVectorStoreStore stores, IFileStore files, VectorStoreService service, IIdGenerator ids,
        TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateVectorStoreFileBatchRequest);
        if ((request.FileIds is null) == (request.Files is null))
        {
            throw ApiErrors.InvalidRequest("Provide exactly one of 'file_ids' or 'files'.", request.FileIds is null ? "file_ids" : "files", "invalid_value");
        }
        var count = request.FileIds?.Count ?? request.Files!.Count;
        var param = request.FileIds is null ? "files" : "file_ids";
        if (count == 0)
        {
            throw ApiErrors.InvalidRequest($"Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead.", param, "empty_array");
        }
        if (count > VectorStoreService.MaxFilesPerBatch)
        {
            throw ApiErrors.ArrayTooLong(param, VectorStoreService.MaxFilesPerBatch, count);
        }
        VectorStoreService.EnsureNotExpired((await FindAsync(stores, caller, vectorStoreId, cancellationToken)).Store, time.GetUtcNow());
        var inputs = new List<VectorStoreFileInput>(count);
        if (request.FileIds is { } fileIds)
        {
            var strategy = VectorStoreService.ParseChunkingStrategy(request.ChunkingStrategy);
            var attributes = VectorStoreService.ValidateAttributes(request.Attributes);
            await Validate.FilesExistAsync(files, caller.ProjectId, fileIds, "file_ids", cancellationToken);
            inputs.AddRange(fileIds.Select(id => new VectorStoreFileInput(id, strategy, attributes)));
        }
        else
        {
            // With 'files', each file carries its own settings; the global ones are ignored (DIGEST §4.7).
            for (var i = 0; i < request.Files!.Count; i++)
            {
                var file = request.Files[i] ?? throw ApiErrors.InvalidRequest($"Invalid type for 'files[{i}]': expected an object.", $"files[{i}]", "invalid_type");
                inputs.Add(await FileInputAsync(file, files, caller, $"files[{i}].", null, null, cancellationToken));
            }
        }
        var batchId = ids.NewId(Ids.FileBatch);
        await service.AddFilesAsync(caller.ProjectId, vectorStoreId, inputs, batchId, cancellationToken);
        return TypedResults.Ok(await BatchObjectAsync(stores, caller, vectorStoreId, batchId, cancellationToken));
    }

    internal static async Task<Ok<VectorStoreFileBatchObject>> GetBatchAsync(
        string vectorStoreId, string batchId, ApiCaller caller, IVectorStoreStore stores, CancellationToken cancellationToken) =>
        TypedResults.Ok(await BatchObjectAsync(stores, caller, vectorStoreId, batchId, cancellationToken));

    internal static async Task<Ok<VectorStoreFileBatchObject>> CancelBatchAsync(
        string vectorStoreId, string batchId, ApiCaller caller, IVectorStoreStore stores, CancellationToken cancellationToken)
    {
        var current = await BatchObjectAsync(stores, caller, vectorStoreId, batchId, cancellationToken);
        if (current.Status is not "in_progress")
        {
            throw ApiErrors.InvalidRequest($"Cannot cancel a batch with status '{current.Status}'.");
        }
        await stores.CancelBatchAsync(caller.ProjectId, vectorStoreId, batchId, cancellationToken);
        return TypedResults.Ok(await BatchObjectAsync(stores, caller, vectorStoreId, batchId, cancellationToken));
    }

    internal static async Task<Ok<ListResponse<VectorStoreFileObject>>> ListBatchFilesAsync(
        string vectorStoreId, string batchId, HttpRequest request, ApiCaller caller, IVectorStoreStore stores, CancellationToken cancellationToken)
    {
        var query = ListQuery.Parse(request);
        var status = StatusFilter(request);
        await BatchObjectAsync(stores, caller, vectorStoreId, batchId, cancellationToken);
        var page = await stores.ListFilesAsync(caller.ProjectId, vectorStoreId, batchId, status, query, cancellationToken);
        return TypedResults.Ok(ListResponse.From(page, VectorStoreMapping.ToObject, f => f.Id));
    }

    internal static async Task<VectorStoreState> FindAsync(IVectorStoreStore stores, ApiCaller caller, string id, CancellationToken cancellationToken) =>
        await stores.FindAsync(caller.ProjectId, id, cancellationToken) ?? throw ApiErrors.NotFound("vector store", id);

    private static async Task<VectorStoreFile> FindFileAsync(IVectorStoreStore stores, ApiCaller caller, string vectorStoreId, string fileId, CancellationToken cancellationToken)
    {
        await FindAsync(stores, caller, vectorStoreId, cancellationToken);
        return await stores.FindFileAsync(caller.ProjectId, vectorStoreId, fileId, cancellationToken) ?? throw ApiErrors.NotFound("vector store file", fileId);
    }

    private static async Task<VectorStoreFileBatchObject> BatchObjectAsync(IVectorStoreStore stores, ApiCaller caller, string vectorStoreId, string batchId, CancellationToken cancellationToken)
    {
        await FindAsync(stores, caller, vectorStoreId, cancellationToken);
        var batch = await stores.FindBatchAsync(caller.ProjectId, vectorStoreId, batchId, cancellationToken) ?? throw ApiErrors.NotFound("vector store file batch", batchId);
        return batch.ToObject(await stores.CountBatchAsync(vectorStoreId, batchId, cancellationToken));
    }

    private static async Task<VectorStoreFileInput> FileInputAsync(
        CreateVectorStoreFileRequest request, IFileStore files, ApiCaller caller, string prefix, JsonElement? defaultStrategy, Dictionary<string, JsonElement>? defaultAttributes,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(request.FileId))
        {
            throw ApiErrors.MissingParameter(prefix + "file_id");
        }
        var strategy = VectorStoreService.ParseChunkingStrategy(request.ChunkingStrategy ?? defaultStrategy, prefix + "chunking_strategy");
        var attributes = VectorStoreService.ValidateAttributes(request.Attributes ?? defaultAttributes, prefix + "attributes");
        if ((await files.FindMissingAsync(caller.ProjectId, [request.FileId], cancellationToken)).Count > 0)
        {
            throw ApiErrors.InvalidRequest($"Invalid '{prefix}file_id': no file found with id '{request.FileId}'.", prefix + "file_id", "invalid_value");
        }
        return new VectorStoreFileInput(request.FileId, strategy, attributes);
    }

    private static VectorStoreFileStatus? StatusFilter(HttpRequest request) => request.Query["filter"].ToString() switch
    {
        "" => null,
        "in_progress" => VectorStoreFileStatus.InProgress,
        "completed" => VectorStoreFileStatus.Completed,
        "failed" => VectorStoreFileStatus.Failed,
        "cancelled" => VectorStoreFileStatus.Cancelled,
        var other => throw ApiErrors.InvalidRequest($"Invalid value: '{other}'. Supported values are: 'in_progress', 'completed', 'failed' and 'cancelled'.", "filter", "invalid_value"),
    };
}
