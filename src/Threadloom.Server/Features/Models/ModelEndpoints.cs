using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Core.Inference;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Models;

public sealed record ModelObject(string Id, long Created, string OwnedBy)
{
    public string Object => "model";
}

public static class ModelEndpoints
{
    public static RouteGroupBuilder MapModelEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/models", List).WithTags("Models").WithName("listModels");
        return api;
    }

    /// <summary>
    /// The configured model routes (DESIGN §1), and under a catch-all route the upstream's own models (cached,
    /// <see cref="IModelCatalog"/>); wildcard routes are not names and are not listed.
    /// </summary>
    internal static async Task<Ok<ListResponse<ModelObject>>> List(ApiCaller caller, IModelCatalog catalog, CancellationToken cancellationToken)
    {
        var models = (await catalog.ListAsync(cancellationToken)).Select(name => new ModelObject(name, 0, "threadloom")).ToList();
        return TypedResults.Ok(new ListResponse<ModelObject>(models, models.FirstOrDefault()?.Id, models.LastOrDefault()?.Id, false));
    }
}
