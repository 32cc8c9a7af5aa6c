namespace Threadloom.Server.Http;

/// <summary>Where the generated OpenAPI document of Threadloom's own surface is served.</summary>
public static class ServerOpenApi
{
    public const string DocumentName = "v1";

    /// <summary>The route pattern; <c>/openapi/v1.json</c> for <see cref="DocumentName"/>.</summary>
    public const string Route = "/openapi/{documentName}.json";
}
