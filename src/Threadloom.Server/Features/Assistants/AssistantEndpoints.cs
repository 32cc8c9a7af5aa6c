using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Assistants;

public static class AssistantEndpoints
{
    public static RouteGroupBuilder MapAssistantEndpoints(this RouteGroupBuilder api)
    {
        var assistants = api.MapGroup("/assistants").WithTags("Assistants");
        assistants.MapPost("/", CreateAsync).WithName("createAssistant");
        assistants.MapGet("/", ListAsync).WithName("listAssistants");
        assistants.MapGet("/{assistantId}", GetAsync).WithName("getAssistant");
        assistants.MapPost("/{assistantId}", ModifyAsync).WithName("modifyAssistant");
        assistants.MapDelete("/{assistantId}", DeleteAsync).WithName("deleteAssistant");
        return api;
    }

    internal static async Task<Ok<AssistantObject>> CreateAsync(
        HttpContext http, ApiCaller caller, IAssistantStore store, ToolResourcesBinder binder, IIdGenerator ids, TimeProvider time, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.CreateAssistantRequest);
        ToolResourcesBinder.RejectV1Field(request.FileIds, "file_ids", caller);
        if (string.IsNullOrEmpty(request.Model))
        {
            throw ApiErrors.MissingParameter("model");
        }
        var tools = Validate.Tools(request.Tools, caller.Dialect);
        var resources = await binder.ResolveAsync(request.ToolResources, caller, cancellationToken);
        resources = await binder.ResolveV1FileIdsAsync(request.FileIds, tools, resources, caller, cancellationToken);
        var assistant = new Assistant(
            ids.NewId(Ids.Assistant), caller.ProjectId, time.GetUtcNow(), request.Model,
            Validate.MaxLength(request.Name, "name", Validate.MaxName),
            Validate.MaxLength(request.Description, "description", Validate.MaxDescription),
            Validate.MaxLength(request.Instructions, "instructions", Validate.MaxInstructions),
            tools, resources, Validate.Metadata(request.Metadata),
            Validate.Range(request.Temperature, "temperature", 0, 2),
            Validate.Range(request.TopP, "top_p", 0, 1),
            Validate.ResponseFormat(request.ResponseFormat),
            Validate.ReasoningEffort(request.ReasoningEffort),
            request.FileIds);
        await store.CreateAsync(assistant, cancellationToken);
        return TypedResults.Ok(assistant.ToObject());
    }

    internal static async Task<Ok<ListResponse<AssistantObject>>> ListAsync(
        HttpRequest request, ApiCaller caller, IAssistantStore store, CancellationToken cancellationToken)
    {
        var page = await store.ListAsync(caller.ProjectId, ListQuery.Parse(request), cancellationToken);
        return TypedResults.Ok(ListResponse.From(page, AssistantMapping.ToObject, a => a.Id));
    }

    internal static async Task<Ok<AssistantObject>> GetAsync(string assistantId, ApiCaller caller, IAssistantStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await FindAsync(store, caller, assistantId, cancellationToken)).ToObject());

    internal static async Task<Ok<AssistantObject>> ModifyAsync(
        string assistantId, HttpContext http, ApiCaller caller, IAssistantStore store, ToolResourcesBinder binder, CancellationToken cancellationToken)
    {
        var request = await RequestBody.ReadAsync(http, ApiJsonContext.Default.ModifyAssistantRequest);
        ToolResourcesBinder.RejectV1Field(request.FileIds, "file_ids", caller);
        var current = await FindAsync(store, caller, assistantId, cancellationToken);
        var tools = request.Tools is null ? current.Tools : Validate.Tools(request.Tools, caller.Dialect);
        var resources = request.ToolResources is null ? current.ToolResources : await binder.ResolveAsync(request.ToolResources, caller, cancellationToken);
        resources = await binder.ResolveV1FileIdsAsync(request.FileIds, tools, resources, caller, cancellationToken);
        var updated = current with
        {
            Model = string.IsNullOrEmpty(request.Model) ? current.Model : request.Model,
            Name = Validate.MaxLength(request.Name, "name", Validate.MaxName) ?? current.Name,
            Description = Validate.MaxLength(request.Description, "description", Validate.MaxDescription) ?? current.Description,
            Instructions = Validate.MaxLength(request.Instructions, "instructions", Validate.MaxInstructions) ?? current.Instructions,
            Tools = tools,
            ToolResources = resources,
            Metadata = request.Metadata is null ? current.Metadata : Validate.Metadata(request.Metadata),
            Temperature = Validate.Range(request.Temperature, "temperature", 0, 2) ?? current.Temperature,
            TopP = Validate.Range(request.TopP, "top_p", 0, 1) ?? current.TopP,
            ResponseFormat = Validate.ResponseFormat(request.ResponseFormat) ?? current.ResponseFormat,
            ReasoningEffort = Validate.ReasoningEffort(request.ReasoningEffort) ?? current.ReasoningEffort,
            V1FileIds = request.FileIds ?? current.V1FileIds,
        };
        if (!await store.UpdateAsync(updated, cancellationToken))
        {
            throw ApiErrors.NotFound("assistant", assistantId);
        }
        return TypedResults.Ok(updated.ToObject());
    }

    internal static async Task<Ok<DeletionStatus>> DeleteAsync(string assistantId, ApiCaller caller, IAssistantStore store, CancellationToken cancellationToken) =>
        await store.DeleteAsync(caller.ProjectId, assistantId, cancellationToken)
            ? TypedResults.Ok(new DeletionStatus(assistantId, "assistant.deleted", true))
            : throw ApiErrors.NotFound("assistant", assistantId);

    internal static async Task<Assistant> FindAsync(IAssistantStore store, ApiCaller caller, string id, CancellationToken cancellationToken) =>
        await store.FindAsync(caller.ProjectId, id, cancellationToken) ?? throw ApiErrors.NotFound("assistant", id);
}
