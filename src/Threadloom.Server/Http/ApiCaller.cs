using System.Reflection;

namespace Threadloom.Server.Http;

/// <summary>Which wire shape a request speaks: Assistants v2 (the default) or the legacy v1.</summary>
public enum ApiDialect
{
    V2,
    V1,
}

/// <summary>Who is calling and in which dialect; set by <c>ApiAuthenticationMiddleware</c> and bound into handlers.</summary>
public sealed record ApiCaller(string ProjectId, ApiDialect Dialect)
{
    internal const string ItemKey = "threadloom.caller";

    public bool IsV1 => Dialect == ApiDialect.V1;

    public static ValueTask<ApiCaller?> BindAsync(HttpContext context, ParameterInfo parameter) =>
        ValueTask.FromResult<ApiCaller?>(context.Items[ItemKey] as ApiCaller
            ?? throw new InvalidOperationException("The API caller was not resolved for this route."));
}
