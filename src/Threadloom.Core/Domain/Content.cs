using System.Text.Json.Serialization;

namespace Threadloom.Core.Domain;

/// <summary>One part of a message's content, as stored and as sent.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(TextContent), "text")]
[JsonDerivedType(typeof(ImageFileContent), "image_file")]
[JsonDerivedType(typeof(ImageUrlContent), "image_url")]
[JsonDerivedType(typeof(RefusalContent), "refusal")]
public abstract record MessageContent;

public sealed record TextContent(MessageText Text) : MessageContent;

public sealed record MessageText(string Value, IReadOnlyList<TextAnnotation> Annotations);

public sealed record ImageFileContent(ImageFile ImageFile) : MessageContent;

public sealed record ImageFile(string FileId, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Detail = null);

public sealed record ImageUrlContent(ImageUrl ImageUrl) : MessageContent;

public sealed record ImageUrl(string Url, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Detail = null);

public sealed record RefusalContent(string Refusal) : MessageContent;

[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(FileCitationAnnotation), "file_citation")]
[JsonDerivedType(typeof(FilePathAnnotation), "file_path")]
public abstract record TextAnnotation(string Text, int StartIndex, int EndIndex);

public sealed record FileCitationAnnotation(string Text, FileCitation FileCitation, int StartIndex, int EndIndex)
    : TextAnnotation(Text, StartIndex, EndIndex);

public sealed record FileCitation(string FileId, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Quote = null);

public sealed record FilePathAnnotation(string Text, FilePath FilePath, int StartIndex, int EndIndex)
    : TextAnnotation(Text, StartIndex, EndIndex);

public sealed record FilePath(string FileId);

public sealed record MessageAttachment(string FileId, IReadOnlyList<AttachmentTool> Tools);

/// <summary>An attachment names the tools that may use the file: <c>code_interpreter</c> or <c>file_search</c>.</summary>
public sealed record AttachmentTool(string Type);
