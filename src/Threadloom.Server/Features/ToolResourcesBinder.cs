using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Features.VectorStores;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features;

/// <summary>
/// Validates <c>tool_resources</c> from a request and turns it into the stored shape, checking that every file it
/// names belongs to the caller's project. Shared by assistants, threads and create-thread-and-run.
/// The <c>file_search.vector_stores</c> helper and v1 <c>file_ids</c> with the retrieval tool create a vector store,
/// as OpenAI does; its files are ingested in the background.
/// </summary>
public sealed class ToolResourcesBinder(IFileStore files, IVectorStoreStore vectorStores, VectorStoreService vectorStoreService, TimeProvider time)
{
    public async Task<ToolResources?> ResolveAsync(ToolResourcesRequest? request, ApiCaller caller, CancellationToken cancellationToken, string param = "tool_resources")
    {
        if (request is null)
        {
            return null;
        }
        CodeInterpreterResources? codeInterpreter = null;
        if (request.CodeInterpreter?.FileIds is { } fileIds)
        {
            var at = $"{param}.code_interpreter.file_ids";
            if (fileIds.Count > Validate.MaxCodeInterpreterFiles)
            {
                throw ApiErrors.ArrayTooLong(at, Validate.MaxCodeInterpreterFiles, fileIds.Count);
            }
            await Validate.FilesExistAsync(files, caller.ProjectId, fileIds, at, cancellationToken);
            codeInterpreter = new CodeInterpreterResources(fileIds.Distinct(StringComparer.Ordinal).ToList());
        }
        FileSearchResources? fileSearch = null;
        if (request.FileSearch is { } search)
        {
            var at = $"{param}.file_search";
            if (search.VectorStoreIds is not null && search.VectorStores is not null)
            {
                throw ApiErrors.InvalidRequest($"Invalid '{at}': provide only one of 'vector_store_ids' or 'vector_stores'.", at, "invalid_value");
            }
            if (search.VectorStoreIds is { Count: > 1 } tooMany)
            {
                throw ApiErrors.ArrayTooLong($"{at}.vector_store_ids", 1, tooMany.Count);
            }
            if (search.VectorStores is { Count: > 1 } tooManyStores)
            {
                throw ApiErrors.ArrayTooLong($"{at}.vector_stores", 1, tooManyStores.Count);
            }
            if (search.VectorStoreIds is { Count: > 0 } storeIds)
            {
                for (var index = 0; index < storeIds.Count; index++)
                {
                    var state = await vectorStores.FindAsync(caller.ProjectId, storeIds[index], cancellationToken) ?? throw ApiErrors.InvalidRequest(
                        $"Invalid '{at}.vector_store_ids[{index}]': no vector store found with id '{storeIds[index]}'.", $"{at}.vector_store_ids[{index}]", "invalid_value");
                    VectorStoreService.EnsureNotExpired(state.Store, time.GetUtcNow(), $"{at}.vector_store_ids[{index}]");
                }
            }
            if (search.VectorStores is [var helper])
            {
                var helperAt = $"{at}.vector_stores[0]";
                if (helper is null)
                {
                    throw ApiErrors.InvalidRequest($"Invalid type for '{helperAt}': expected an object.", helperAt, "invalid_type");
                }
                var helperFiles = helper.FileIds ?? [];
                if (helperFiles.Count > VectorStoreService.MaxFilesPerCreate)
                {
                    throw ApiErrors.ArrayTooLong($"{helperAt}.file_ids", VectorStoreService.MaxFilesPerCreate, helperFiles.Count);
                }
                var strategy = VectorStoreService.ParseChunkingStrategy(helper.ChunkingStrategy, $"{helperAt}.chunking_strategy");
                var metadata = Validate.Metadata(helper.Metadata, $"{helperAt}.metadata");
                var store = await vectorStoreService.CreateAsync(caller.ProjectId, null, null, metadata, null, helperFiles, strategy, $"{helperAt}.file_ids", cancellationToken);
                return new ToolResources(codeInterpreter, new FileSearchResources([store.Id]));
            }
            fileSearch = new FileSearchResources(search.VectorStoreIds ?? []);
        }
        return new ToolResources(codeInterpreter, fileSearch);
    }

    /// <summary>Assistants v1 <c>file_ids</c>: the files go to the code interpreter when the assistant has one.</summary>
    public async Task<ToolResources?> ResolveV1FileIdsAsync(List<string>? fileIds, IReadOnlyList<ToolDefinition> tools, ToolResources? current, ApiCaller caller, CancellationToken cancellationToken)
    {
        if (fileIds is null)
        {
            return current;
        }
        if (fileIds.Count > Validate.MaxCodeInterpreterFiles)
        {
            throw ApiErrors.ArrayTooLong("file_ids", Validate.MaxCodeInterpreterFiles, fileIds.Count);
        }
        await Validate.FilesExistAsync(files, caller.ProjectId, fileIds, "file_ids", cancellationToken);
        var codeInterpreter = tools.Any(t => t is CodeInterpreterToolDefinition) ? new CodeInterpreterResources(fileIds) : null;
        // COMPAT: v1 retrieval read the assistant's file_ids directly; v2 needs a vector store, so one is made for them.
        var fileSearch = current?.FileSearch;
        if (fileIds.Count > 0 && tools.Any(t => t is FileSearchToolDefinition))
        {
            var store = await vectorStoreService.CreateAsync(caller.ProjectId, "Assistant files (v1 file_ids)", null, new Dictionary<string, string>(), null,
                fileIds, Core.Ingestion.StaticChunkingStrategy.Default, "file_ids", cancellationToken);
            fileSearch = new FileSearchResources([store.Id]);
        }
        return new ToolResources(codeInterpreter ?? current?.CodeInterpreter, fileSearch);
    }

    public static void RejectV1Field(object? value, string name, ApiCaller caller)
    {
        if (value is not null && !caller.IsV1)
        {
            throw ApiErrors.InvalidRequest($"Unknown parameter: '{name}'.", name, "unknown_parameter");
        }
    }
}
