using System.Text.Json;
using System.Text.Json.Serialization;

namespace Threadloom.Core.Domain;

/// <summary>A tool an assistant or run may use; the wire discriminator is <c>type</c>.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(CodeInterpreterToolDefinition), "code_interpreter")]
[JsonDerivedType(typeof(FileSearchToolDefinition), "file_search")]
[JsonDerivedType(typeof(FunctionToolDefinition), "function")]
[JsonDerivedType(typeof(RetrievalToolDefinition), "retrieval")]
public abstract record ToolDefinition;

public sealed record CodeInterpreterToolDefinition : ToolDefinition;

public sealed record FileSearchToolDefinition([property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] FileSearchToolOptions? FileSearch = null) : ToolDefinition;

public sealed record FunctionToolDefinition(FunctionDefinition Function) : ToolDefinition;

/// <summary>The Assistants v1 name of file search; mapped to <see cref="FileSearchToolDefinition"/> on the way in.</summary>
public sealed record RetrievalToolDefinition : ToolDefinition;

public sealed record FileSearchToolOptions(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? MaxNumResults = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] FileSearchRankingOptions? RankingOptions = null);

public sealed record FileSearchRankingOptions(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Ranker = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? ScoreThreshold = null);

public sealed record FunctionDefinition(
    string Name,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Description = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Parameters = null,
    bool? Strict = null);

public sealed record ToolResources(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] CodeInterpreterResources? CodeInterpreter = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] FileSearchResources? FileSearch = null)
{
    public static readonly ToolResources Empty = new();
}

public sealed record CodeInterpreterResources(IReadOnlyList<string> FileIds);

public sealed record FileSearchResources(IReadOnlyList<string> VectorStoreIds);

/// <summary><c>response_format</c>: the string <c>"auto"</c> or an object with a <c>type</c>.</summary>
[JsonConverter(typeof(ResponseFormatConverter))]
public sealed record ResponseFormat(string Type, JsonSchemaFormat? JsonSchema = null)
{
    public static readonly ResponseFormat Auto = new("auto");
}

public sealed record JsonSchemaFormat(string Name, string? Description = null, JsonElement? Schema = null, bool? Strict = null);

/// <summary>Reads and writes <c>"auto"</c> as a bare string, the other formats as objects.</summary>
public sealed class ResponseFormatConverter : JsonConverter<ResponseFormat>
{
    public override ResponseFormat? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString() == "auto" ? ResponseFormat.Auto : throw new InvalidWireValueException("Expected 'auto' or an object.");
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new InvalidWireValueException("Expected 'auto' or an object.");
        }
        string? type = null;
        JsonSchemaFormat? schema = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "type":
                    type = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw new InvalidWireValueException("'type' must be a string.");
                    break;
                case "json_schema":
                    schema = reader.TokenType == JsonTokenType.Null ? null : ReadSchema(ref reader);
                    break;
                default:
                    throw new InvalidWireValueException($"Unknown parameter: '{name}'.");
            }
        }
        return type switch
        {
            "text" or "json_object" => new ResponseFormat(type),
            "json_schema" => new ResponseFormat(type, schema ?? throw new InvalidWireValueException("Missing required parameter: 'json_schema'.")),
            null => throw new InvalidWireValueException("Missing required parameter: 'type'."),
            _ => throw new InvalidWireValueException($"Invalid value: '{type}'. Supported values are: 'text', 'json_object' and 'json_schema'."),
        };
    }

    private static JsonSchemaFormat ReadSchema(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new InvalidWireValueException("'json_schema' must be an object.");
        }
        string? name = null, description = null;
        JsonElement? schema = null;
        bool? strict = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var prop = reader.GetString();
            reader.Read();
            switch (prop)
            {
                case "name": name = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw new InvalidWireValueException("'name' must be a string."); break;
                case "description": description = reader.TokenType == JsonTokenType.Null ? null : reader.GetString(); break;
                case "schema": schema = JsonElement.ParseValue(ref reader); break;
                case "strict": strict = reader.TokenType == JsonTokenType.Null ? null : reader.GetBoolean(); break;
                default: throw new InvalidWireValueException($"Unknown parameter: 'json_schema.{prop}'.");
            }
        }
        return new JsonSchemaFormat(name ?? throw new InvalidWireValueException("Missing required parameter: 'json_schema.name'."), description, schema, strict);
    }

    public override void Write(Utf8JsonWriter writer, ResponseFormat value, JsonSerializerOptions options)
    {
        if (value.Type == "auto")
        {
            writer.WriteStringValue("auto");
            return;
        }
        writer.WriteStartObject();
        writer.WriteString("type", value.Type);
        if (value.JsonSchema is { } s)
        {
            writer.WriteStartObject("json_schema");
            writer.WriteString("name", s.Name);
            if (s.Description is not null)
            {
                writer.WriteString("description", s.Description);
            }
            if (s.Schema is { } schema)
            {
                writer.WritePropertyName("schema");
                schema.WriteTo(writer);
            }
            if (s.Strict is { } strict)
            {
                writer.WriteBoolean("strict", strict);
            }
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
    }
}
