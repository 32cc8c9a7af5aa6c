namespace Threadloom.Server.Http;

/// <summary>
/// The Azure <c>api-version</c> values the <c>/openai</c> routes accept, each with the Assistants dialect Azure served
/// under it. A table, not a date comparison: the dialect changed at one release, GA versions are dated between
/// previews, and an unknown value is refused as Azure refuses it.
/// </summary>
/// <remarks>
/// Design notes: Azure added Assistants (v1) in <c>2024-02-15-preview</c> and Assistants v2 in
/// <c>2024-05-01-preview</c> (learn.microsoft.com, "Azure OpenAI API preview lifecycle"); every inference preview
/// after it carries v2. Azure's GA versions never carried Assistants (their spec says preview features after
/// 2023-12-01-preview are "only supported in the latest preview API releases"), but the GA builds of the Azure SDKs
/// default to them, so Threadloom serves them v2 rather than refusing them. <c>2024-01-01-preview</c> was never an
/// Azure version; the seed's notebooks send it, so it is served as v1. <c>docs/compatibility.md</c> lists the table.
/// </remarks>
public static class AzureApiVersions
{
    public static readonly IReadOnlyDictionary<string, ApiDialect> Dialects = new Dictionary<string, ApiDialect>(StringComparer.Ordinal)
    {
        // COMPAT: not an Azure version; the seed's notebooks use it for Assistants v1.
        ["2024-01-01-preview"] = ApiDialect.V1,
        ["2024-02-15-preview"] = ApiDialect.V1,
        ["2024-03-01-preview"] = ApiDialect.V1,
        ["2024-04-01-preview"] = ApiDialect.V1,
        ["2024-05-01-preview"] = ApiDialect.V2,
        ["2024-07-01-preview"] = ApiDialect.V2,
        ["2024-08-01-preview"] = ApiDialect.V2,
        ["2024-09-01-preview"] = ApiDialect.V2,
        ["2024-10-01-preview"] = ApiDialect.V2,
        ["2024-12-01-preview"] = ApiDialect.V2,
        ["2025-01-01-preview"] = ApiDialect.V2,
        ["2025-02-01-preview"] = ApiDialect.V2,
        ["2025-03-01-preview"] = ApiDialect.V2,
        ["2025-04-01-preview"] = ApiDialect.V2,
        // COMPAT: GA versions, which had no Assistants on Azure; served v2 (see remarks).
        ["2024-02-01"] = ApiDialect.V2,
        ["2024-06-01"] = ApiDialect.V2,
        ["2024-10-21"] = ApiDialect.V2,
    };

    /// <summary>The dialect of <paramref name="apiVersion"/>; a missing or unknown version is a 400 in Azure's words.</summary>
    public static ApiDialect DialectOf(string? apiVersion)
    {
        if (string.IsNullOrEmpty(apiVersion))
        {
            throw ApiErrors.InvalidRequest("Missing required query parameter: 'api-version'.", "api-version", "missing_required_parameter");
        }
        return Dialects.TryGetValue(apiVersion, out var dialect) ? dialect : throw Unsupported();
    }

    /// <summary>
    /// Azure's body is <c>{"error":{"code":"BadRequest","message":"API version not supported"}}</c>; the SDKs read
    /// <c>error.message</c> (and <c>code</c>), so the same message and code go out in the full OpenAI envelope.
    /// </summary>
    public static ApiException Unsupported() =>
        new(StatusCodes.Status400BadRequest, new ErrorBody("API version not supported", "invalid_request_error", "api-version", "BadRequest"));
}
