using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Http;

/// <summary>The OpenAI request limits (DESIGN §7), each failing with OpenAI's code and the offending <c>param</c>.</summary>
public static class Validate
{
    public const int MaxMetadataPairs = 16;
    public const int MaxMetadataKey = 64;
    public const int MaxMetadataValue = 512;
    public const int MaxTools = 128;
    public const int MaxName = 256;
    public const int MaxDescription = 512;
    public const int MaxInstructions = 256_000;
    public const int MaxCodeInterpreterFiles = 20;

    /// <summary>Names the model sees for the built-in tools; a user function may not take one (DESIGN §4).</summary>
    public static readonly IReadOnlySet<string> ReservedFunctionNames = new HashSet<string>(StringComparer.Ordinal) { "code_interpreter", "file_search" };

    public static IReadOnlyDictionary<string, string> Metadata(Dictionary<string, string>? metadata, string param = "metadata")
    {
        if (metadata is null)
        {
            return new Dictionary<string, string>();
        }
        if (metadata.Count > MaxMetadataPairs)
        {
            throw ApiErrors.InvalidRequest($"Invalid '{param}': too many properties. Expected an object with at most {MaxMetadataPairs} properties, but got an object with {metadata.Count} properties instead.", param, "object_above_max_properties");
        }
        foreach (var (key, value) in metadata)
        {
            if (key.Length > MaxMetadataKey)
            {
                throw ApiErrors.InvalidRequest($"Invalid '{param}': metadata key too long. Expected a key with maximum length {MaxMetadataKey}, but got a key with length {key.Length} instead.", param, "string_above_max_length");
            }
            if (value is null)
            {
                throw ApiErrors.InvalidRequest($"Invalid type for '{param}.{key}': expected a string, but got null instead.", $"{param}.{key}", "invalid_type");
            }
            if (value.Length > MaxMetadataValue)
            {
                throw ApiErrors.StringTooLong($"{param}.{key}", MaxMetadataValue, value.Length);
            }
        }
        return metadata;
    }

    /// <summary>The <c>ReasoningEffort</c> enum of OpenAI's spec.</summary>
    public static readonly IReadOnlyList<string> ReasoningEfforts = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];

    public static string? ReasoningEffort(string? value, string param = "reasoning_effort") =>
        value is null || ReasoningEfforts.Contains(value, StringComparer.Ordinal)
            ? value
            : throw ApiErrors.InvalidRequest(
                $"Invalid value: '{value}'. Supported values are: {string.Join(", ", ReasoningEfforts.Select(e => $"'{e}'"))}.", param, "invalid_value");

    public static string? MaxLength(string? value, string param, int max) =>
        value is not null && value.Length > max ? throw ApiErrors.StringTooLong(param, max, value.Length) : value;

    public static double? Range(double? value, string param, double min, double max) =>
        value is { } v && (v < min || v > max || double.IsNaN(v))
            ? throw ApiErrors.InvalidRequest($"Invalid '{param}': expected a number between {min} and {max}, but got {v} instead.", param, v < min ? "decimal_below_min_value" : "decimal_above_max_value")
            : value;

    public static IReadOnlyList<ToolDefinition> Tools(List<ToolDefinition?>? tools, ApiDialect dialect, int max = MaxTools, string param = "tools")
    {
        if (tools is null)
        {
            return [];
        }
        if (tools.Count > max)
        {
            throw ApiErrors.ArrayTooLong(param, max, tools.Count);
        }
        var result = new List<ToolDefinition>(tools.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < tools.Count; i++)
        {
            var at = $"{param}[{i}]";
            switch (tools[i])
            {
                case null:
                    throw ApiErrors.InvalidRequest($"Invalid type for '{at}': expected an object, but got null instead.", at, "invalid_type");
                case RetrievalToolDefinition when dialect == ApiDialect.V2:
                    throw ApiErrors.InvalidRequest($"Invalid value: 'retrieval'. The 'retrieval' tool is Assistants v1; use 'file_search' in v2.", $"{at}.type", "invalid_value");
                case RetrievalToolDefinition:
                    result.Add(new FileSearchToolDefinition());
                    break;
                case FileSearchToolDefinition fileSearch:
                    if (fileSearch.FileSearch?.MaxNumResults is { } n && (n < 1 || n > 50))
                    {
                        throw ApiErrors.InvalidRequest($"Invalid '{at}.file_search.max_num_results': expected a value between 1 and 50, but got {n} instead.", $"{at}.file_search.max_num_results", "invalid_value");
                    }
                    Range(fileSearch.FileSearch?.RankingOptions?.ScoreThreshold, $"{at}.file_search.ranking_options.score_threshold", 0, 1);
                    result.Add(fileSearch);
                    break;
                case FunctionToolDefinition { Function: null }:
                    throw ApiErrors.MissingParameter($"{at}.function");
                case FunctionToolDefinition function:
                    var name = function.Function.Name;
                    if (string.IsNullOrEmpty(name))
                    {
                        throw ApiErrors.MissingParameter($"{at}.function.name");
                    }
                    if (name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                    {
                        throw ApiErrors.InvalidRequest($"Invalid '{at}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'.", $"{at}.function.name", "invalid_value");
                    }
                    if (ReservedFunctionNames.Contains(name))
                    {
                        throw ApiErrors.InvalidRequest($"Invalid '{at}.function.name': '{name}' is reserved for the built-in tool of that name.", $"{at}.function.name", "invalid_value");
                    }
                    if (!names.Add(name))
                    {
                        throw ApiErrors.InvalidRequest($"Invalid '{param}': duplicate function name '{name}'.", $"{at}.function.name", "invalid_value");
                    }
                    if (function.Function.Parameters is { ValueKind: not System.Text.Json.JsonValueKind.Object and not System.Text.Json.JsonValueKind.Null })
                    {
                        throw ApiErrors.InvalidRequest($"Invalid type for '{at}.function.parameters': expected an object.", $"{at}.function.parameters", "invalid_type");
                    }
                    result.Add(function with { Function = function.Function with { Strict = function.Function.Strict ?? false } });
                    break;
                case var other:
                    result.Add(other);
                    break;
            }
        }
        return result;
    }

    public static ResponseFormat? ResponseFormat(ResponseFormat? format, string param = "response_format")
    {
        if (format?.JsonSchema is { } schema && (schema.Name.Length is 0 or > 64 || !schema.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')))
        {
            throw ApiErrors.InvalidRequest($"Invalid '{param}.json_schema.name': expected a string of 1 to 64 characters from [a-zA-Z0-9_-].", $"{param}.json_schema.name", "invalid_value");
        }
        return format;
    }

    public static async Task FilesExistAsync(IFileStore files, string projectId, IReadOnlyList<string> ids, string param, CancellationToken cancellationToken)
    {
        var missing = await files.FindMissingAsync(projectId, ids.Distinct().ToList(), cancellationToken);
        if (missing.Count > 0)
        {
            var index = ids.ToList().IndexOf(missing[0]);
            throw ApiErrors.InvalidRequest($"Invalid '{param}[{index}]': no file found with id '{missing[0]}'.", $"{param}[{index}]", "invalid_value");
        }
    }
}
