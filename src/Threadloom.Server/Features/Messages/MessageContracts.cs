using System.Text.Json;
using System.Text.Json.Serialization;
using Threadloom.Core.Domain;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Messages;

public sealed class CreateMessageRequest
{
    public string? Role { get; init; }
    public MessageContentInput? Content { get; init; }
    public List<AttachmentRequest?>? Attachments { get; init; }
    public Dictionary<string, string>? Metadata { get; init; }

    /// <summary>Assistants v1 only.</summary>
    public List<string>? FileIds { get; init; }
}

public sealed class ModifyMessageRequest
{
    public Dictionary<string, string>? Metadata { get; init; }
}

public sealed class AttachmentRequest
{
    public string? FileId { get; init; }
    public List<AttachmentTool?>? Tools { get; init; }
}

/// <summary>A request content part: text is a bare string here, unlike the response's <c>{value, annotations}</c>.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(TextPart), "text")]
[JsonDerivedType(typeof(ImageFilePart), "image_file")]
[JsonDerivedType(typeof(ImageUrlPart), "image_url")]
public abstract record ContentPart;

public sealed record TextPart(string Text) : ContentPart;

public sealed record ImageFilePart(ImageFile ImageFile) : ContentPart;

public sealed record ImageUrlPart(ImageUrl ImageUrl) : ContentPart;

/// <summary><c>content</c>: a string, or an array of at least one part.</summary>
[JsonConverter(typeof(MessageContentInputConverter))]
public sealed record MessageContentInput(IReadOnlyList<ContentPart> Parts);

internal sealed class MessageContentInputConverter : JsonConverter<MessageContentInput>
{
    public override MessageContentInput? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return new MessageContentInput([new TextPart(reader.GetString()!)]);
        }
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new InvalidWireValueException("Invalid type for 'content': expected a string or an array of content parts.", "content");
        }
        var parts = JsonSerializer.Deserialize(ref reader, ApiJsonContext.Default.ListContentPart) ?? [];
        return new MessageContentInput(parts);
    }

    public override void Write(Utf8JsonWriter writer, MessageContentInput value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value.Parts.ToList(), ApiJsonContext.Default.ListContentPart);
}

public sealed record MessageObject(
    string Id,
    long CreatedAt,
    string ThreadId,
    string Status,
    IncompleteDetails? IncompleteDetails,
    long? CompletedAt,
    long? IncompleteAt,
    string Role,
    IReadOnlyList<MessageContent> Content,
    string? AssistantId,
    string? RunId,
    IReadOnlyList<MessageAttachment> Attachments,
    IReadOnlyDictionary<string, string> Metadata)
{
    public string Object => "thread.message";
}

public sealed record IncompleteDetails(string Reason);
