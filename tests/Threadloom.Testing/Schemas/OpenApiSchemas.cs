using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using YamlDotNet.RepresentationModel;

namespace Threadloom.Testing.Schemas;

/// <summary>
/// The schemas of one of the shared spec files (<c>openapi.assistants-subset.yaml</c> for v2,
/// <c>openapi.assistants-v1-subset.yaml</c> for v1), as JSON Schema 2020-12, to validate a response body against a
/// named component schema (<c>RunObject</c>, <c>ListMessagesResponse</c>…) or against the schema the spec gives an
/// operation's response.
/// </summary>
/// <remarks>
/// Design notes: the YAML is read with YamlDotNet and validated with JsonSchema.Net, so <c>required</c>, <c>enum</c>,
/// <c>oneOf</c>/<c>anyOf</c>, <c>$ref</c>, <c>additionalProperties</c>, arrays and types follow the JSON Schema
/// semantics. The one OpenAPI 3.0 keyword that is not JSON Schema, <c>nullable: true</c>, becomes
/// <c>anyOf: [the schema, {type: null}]</c> (so it also works beside a <c>$ref</c>, as the v1 spec writes it);
/// <c>#/components/schemas/X</c> references become <c>#/$defs/X</c> of one registered document. The v1 subset has no
/// stream or error schemas (no JSON response of its paths references them); <c>assistants-v1-stream-and-errors.yaml</c>
/// beside this file adds them, and only where the subset has no schema of that name.
/// </remarks>
public sealed partial class OpenApiSchemas
{
    private static readonly Lazy<OpenApiSchemas> LazyV2 = new(() => Load("v2", "openapi.assistants-subset.yaml"));
    private static readonly Lazy<OpenApiSchemas> LazyV1 = new(() => Load("v1", "openapi.assistants-v1-subset.yaml", "assistants-v1-stream-and-errors.yaml"));
    private static readonly string[] NotSchemaKeys = ["enum", "example", "examples", "default", "const", "x-oaiMeta"];

    private readonly Uri _baseUri;
    private readonly JsonObject _paths;
    private readonly EvaluationOptions _options;
    private readonly ConcurrentDictionary<string, JsonSchema> _byName = new(StringComparer.Ordinal);

    private OpenApiSchemas(string label, JsonObject definitions, JsonObject paths)
    {
        Label = label;
        Names = definitions.Select(d => d.Key).ToHashSet(StringComparer.Ordinal);
        _paths = paths;
        _baseUri = new Uri($"https://threadloom.invalid/spec/{label}");
        var document = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$id"] = _baseUri.ToString(),
            ["$defs"] = definitions,
        };
        _options = new EvaluationOptions { OutputFormat = OutputFormat.List };
        _options.SchemaRegistry.Register(JsonSchema.FromText(document.ToJsonString()));
    }

    /// <summary>Assistants v2: <c>shared/spec/openapi.assistants-subset.yaml</c>.</summary>
    public static OpenApiSchemas V2 => LazyV2.Value;

    /// <summary>Assistants v1: <c>shared/spec/openapi.assistants-v1-subset.yaml</c>, plus the stream and error schemas it lacks.</summary>
    public static OpenApiSchemas V1 => LazyV1.Value;

    public string Label { get; }

    public IReadOnlySet<string> Names { get; }

    /// <summary>The problems of <paramref name="body"/> against the component schema <paramref name="schemaName"/>; empty when it is valid.</summary>
    public IReadOnlyList<string> Validate(JsonNode? body, string schemaName)
    {
        if (!Names.Contains(schemaName))
        {
            throw new ArgumentException($"The {Label} spec has no schema '{schemaName}'.", nameof(schemaName));
        }
        var schema = _byName.GetOrAdd(schemaName, name => JsonSchema.FromText(
            new JsonObject { ["$schema"] = "https://json-schema.org/draft/2020-12/schema", ["$ref"] = $"{_baseUri}#/$defs/{name}" }.ToJsonString()));
        var results = schema.Evaluate(body, _options);
        if (results.IsValid)
        {
            return [];
        }
        // A branch of a passing anyOf/oneOf (or any passing node) also reports its errors; leave those out.
        var passing = results.Details.Where(d => d.IsValid).Select(d => d.EvaluationPath.ToString() + "/").ToList();
        var problems = new List<string>();
        foreach (var detail in results.Details.Where(d => d.HasErrors && !passing.Any(p => d.EvaluationPath.ToString().StartsWith(p, StringComparison.Ordinal))))
        {
            foreach (var (keyword, message) in detail.Errors!)
            {
                problems.Add($"{detail.InstanceLocation} ({detail.EvaluationPath}) {keyword}: {message}");
            }
        }
        return problems.Count > 0 ? problems : [$"invalid against {schemaName}"];
    }

    /// <summary>Fails the test with every problem when <paramref name="body"/> does not match <paramref name="schemaName"/>.</summary>
    public void AssertValid(JsonNode? body, string schemaName, string? context = null)
    {
        var problems = Validate(body, schemaName);
        if (problems.Count > 0)
        {
            var json = body?.ToJsonString() ?? "null";
            Xunit.Assert.Fail($"{context}{(context is null ? "" : ": ")}the body does not match {Label} schema {schemaName}:\n  "
                + string.Join("\n  ", problems.Take(25)) + $"\nbody: {(json.Length > 4000 ? json[..4000] + "…" : json)}");
        }
    }

    /// <summary>
    /// The component schema of the JSON response that the spec gives <paramref name="method"/> on <paramref name="path"/>
    /// (relative to the API root, e.g. <c>threads/thread_1/runs</c>) for <paramref name="status"/>; null when the spec
    /// has no such operation or its 200 is not a JSON schema reference (file content).
    /// </summary>
    public string? ResponseSchemaOf(string method, string path, int status)
    {
        var operation = FindOperation(method, path);
        if (operation is null)
        {
            return null;
        }
        if (status >= 400)
        {
            return Names.Contains("ErrorResponse") ? "ErrorResponse" : null;
        }
        var reference = operation["responses"]?[status.ToString(CultureInfo.InvariantCulture)]?["content"]?["application/json"]?["schema"]?["$ref"]?.GetValue<string>();
        return reference is null ? null : reference[(reference.LastIndexOf('/') + 1)..];
    }

    /// <summary>Whether the spec has <paramref name="method"/> on <paramref name="path"/> (same matching as <see cref="ResponseSchemaOf"/>).</summary>
    public bool HasOperation(string method, string path) => FindOperation(method, path) is not null;

    private JsonObject? FindOperation(string method, string path)
    {
        var segments = path.Split('?')[0].Trim('/').Split('/');
        JsonObject? best = null;
        var bestLiterals = -1;
        foreach (var (template, item) in _paths)
        {
            var parts = template.Trim('/').Split('/');
            if (parts.Length != segments.Length || item?[method.ToLowerInvariant()] is not JsonObject operation)
            {
                continue;
            }
            var literals = 0;
            var matches = true;
            for (var i = 0; i < parts.Length && matches; i++)
            {
                if (parts[i].StartsWith('{'))
                {
                    continue;
                }
                matches = parts[i] == segments[i];
                literals++;
            }
            // /threads/runs is both createThreadAndRun and modifyThread's /threads/{thread_id}: the literal one wins.
            if (matches && literals > bestLiterals)
            {
                best = operation;
                bestLiterals = literals;
            }
        }
        return best;
    }

    private static OpenApiSchemas Load(string label, string specFile, string? supplement = null)
    {
        var spec = ReadYaml(Path.Combine(RepoPaths.Shared, "spec", specFile));
        var definitions = Translate(spec["components"]!["schemas"]!)!.AsObject();
        if (supplement is not null)
        {
            var extra = ReadYaml(Path.Combine(AppContext.BaseDirectory, "Schemas", supplement));
            foreach (var (name, schema) in Translate(extra["components"]!["schemas"]!)!.AsObject().ToList())
            {
                if (!definitions.ContainsKey(name))
                {
                    definitions[name] = schema!.DeepClone();
                }
            }
        }
        AllowNullCursorsOnEmptyLists(definitions);
        AllowNull(definitions, "VectorStoreObject", "name");
        return new OpenApiSchemas(label, definitions, spec["paths"]!.AsObject());
    }

    /// <summary>
    /// COMPAT: a store made without a name (by the <c>vector_stores</c> helper, v1 <c>file_ids</c> or an attachment)
    /// reports <c>name: null</c> where the spec types <c>name</c> as a string. The SDKs read it as no name (Node and .NET
    /// take the null, Python builds response models without validating them); listed in docs/compatibility.md.
    /// </summary>
    private static void AllowNull(JsonObject definitions, string schema, string property)
    {
        if (definitions[schema]?["properties"] is JsonObject properties && properties[property] is { } current)
        {
            properties[property] = new JsonObject { ["anyOf"] = new JsonArray(current.DeepClone(), new JsonObject { ["type"] = "null" }) };
        }
    }

    /// <summary>
    /// COMPAT: the spec types a list's <c>first_id</c>/<c>last_id</c> as string, but an empty list has no first or last
    /// id; Threadloom sends null there, as the real API is believed to (DIGEST §12.8). That one case is allowed.
    /// </summary>
    /// <remarks>
    /// The v1 spec's <c>ListAssistantFilesResponse</c> and <c>ListMessageFilesResponse</c> also require an
    /// <c>items</c> property they never declare (a typo of OpenAI's: no client reads it, the API never sent it), so a
    /// list's <c>required</c> keeps only the properties it declares.
    /// </remarks>
    private static void AllowNullCursorsOnEmptyLists(JsonObject definitions)
    {
        foreach (var (name, schema) in definitions)
        {
            if (!name.StartsWith("List", StringComparison.Ordinal) || schema?["properties"] is not JsonObject properties)
            {
                continue;
            }
            if (schema["required"] is JsonArray required)
            {
                schema["required"] = new JsonArray(required.Where(r => properties.ContainsKey(r!.GetValue<string>())).Select(r => r!.DeepClone()).ToArray());
            }
            foreach (var cursor in (string[])["first_id", "last_id"])
            {
                if (properties[cursor] is { } property)
                {
                    properties[cursor] = new JsonObject { ["anyOf"] = new JsonArray(property.DeepClone(), new JsonObject { ["type"] = "null" }) };
                }
            }
            if (properties.ContainsKey("first_id"))
            {
                schema["if"] = new JsonObject { ["properties"] = new JsonObject { ["data"] = new JsonObject { ["minItems"] = 1 } } };
                schema["then"] = new JsonObject { ["properties"] = new JsonObject { ["first_id"] = new JsonObject { ["type"] = "string" }, ["last_id"] = new JsonObject { ["type"] = "string" } } };
            }
        }
    }

    /// <summary>OpenAPI schema → JSON Schema 2020-12: <c>nullable</c> and <c>$ref</c> targets, recursively.</summary>
    private static JsonNode? Translate(JsonNode? node)
    {
        switch (node)
        {
            case JsonArray array:
                return new JsonArray(array.Select(Translate).ToArray());
            case JsonObject obj:
                var result = new JsonObject();
                var nullable = false;
                foreach (var (key, value) in obj)
                {
                    if (key == "nullable")
                    {
                        nullable = value?.GetValue<bool>() == true;
                    }
                    else if (key == "$ref" && value?.GetValue<string>() is { } target)
                    {
                        result[key] = target.Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
                    }
                    else if (key == "properties" && value is JsonObject properties)
                    {
                        // Property names are data, not keywords: translate each property's schema only.
                        result[key] = new JsonObject(properties.Select(p => KeyValuePair.Create(p.Key, Translate(p.Value))));
                    }
                    else
                    {
                        result[key] = NotSchemaKeys.Contains(key) ? value?.DeepClone() : Translate(value);
                    }
                }
                return nullable ? new JsonObject { ["anyOf"] = new JsonArray(result, new JsonObject { ["type"] = "null" }) } : result;
            default:
                return node?.DeepClone();
        }
    }

    private static JsonObject ReadYaml(string path)
    {
        using var reader = new StreamReader(path);
        var stream = new YamlStream();
        stream.Load(reader);
        return ToJson(stream.Documents[0].RootNode)!.AsObject();
    }

    /// <summary>YAML 1.2 core schema: plain scalars that read as null, booleans and numbers are those; the rest are strings.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, ToJson(c.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: not YamlDotNet.Core.ScalarStyle.Plain } quoted => JsonValue.Create(quoted.Value ?? ""),
        YamlScalarNode plain => Scalar(plain.Value ?? ""),
        _ => throw new InvalidDataException($"Unsupported YAML node {node.NodeType} at {node.Start}."),
    };

    private static JsonValue? Scalar(string text) => text switch
    {
        "" or "~" or "null" or "Null" or "NULL" => null,
        "true" or "True" or "TRUE" => JsonValue.Create(true),
        "false" or "False" or "FALSE" => JsonValue.Create(false),
        _ when IntegerPattern().IsMatch(text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        _ when FloatPattern().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
        _ => JsonValue.Create(text),
    };

    [GeneratedRegex(@"^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();
}
