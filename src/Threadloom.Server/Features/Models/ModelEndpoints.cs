using Microsoft.AspNetCore.Http.HttpResults;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Models;

public sealed record ModelObject(string Id, long Created, string OwnedBy)
{
    public string Object => "model";
}

/// <summary>The model names a client may use; the configured routes (DESIGN §1).</summary>
public interface IModelCatalog
{
    IReadOnlyList<string> ModelNames { get; }
}

public static class ModelEndpoints
{
    public static RouteGroupBuilder MapModelEndpoints(this RouteGroupBuilder api)
    {
        api.MapGet("/models", List).WithTags("Models").WithName("listModels");
        return api;
    }

    internal static Ok<ListResponse<ModelObject>> List(ApiCaller caller, IModelCatalog catalog)
    {
        var models = catalog.ModelNames.Select(name => new ModelObject(name, 0, "threadloom")).ToList();
        return TypedResults.Ok(new ListResponse<ModelObject>(models, models.FirstOrDefault()?.Id, models.LastOrDefault()?.Id, false));
    }
}
