using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Server.Features.Assistants;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features;

/// <summary>
/// Validates <c>tool_resources</c> from a request and turns it into the stored shape, checking that every file it
/// names belongs to the caller's project. Shared by assistants, threads and create-thread-and-run.
/// </summary>
public sealed class ToolResourcesBinder(IFileStore files)
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
            if (search.VectorStores is { Count: > 0 })
            {
                // COMPAT: vector stores arrive with the file search issue (#4); until then the helper is refused clearly.
                throw ApiErrors.InvalidRequest($"Invalid '{at}.vector_stores': creating vector stores implicitly is not supported by this server yet.", $"{at}.vector_stores", "unsupported_value");
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
        return new ToolResources(codeInterpreter ?? current?.CodeInterpreter, current?.FileSearch);
    }

    public static void RejectV1Field(object? value, string name, ApiCaller caller)
    {
        if (value is not null && !caller.IsV1)
        {
            throw ApiErrors.InvalidRequest($"Unknown parameter: '{name}'.", name, "unknown_parameter");
        }
    }
}
