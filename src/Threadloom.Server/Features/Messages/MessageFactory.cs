using Threadloom.Core.Domain;
using Threadloom.Core.Storage;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.Messages;

/// <summary>
/// Validates a <see cref="CreateMessageRequest"/> and builds the stored message. Used by message create, by the
/// initial messages of thread create, and by a run's <c>additional_messages</c>.
/// </summary>
public sealed class MessageFactory(IFileStore files, IIdGenerator ids, TimeProvider time)
{
    private static readonly string[] AttachmentToolTypes = ["code_interpreter", "file_search"];
    private static readonly string[] ImagePurposes = ["vision", "assistants", "assistants_output"];

    public async Task<ThreadMessage> CreateAsync(CreateMessageRequest request, string threadId, ApiCaller caller, string param, CancellationToken cancellationToken)
    {
        string At(string field) => param.Length == 0 ? field : $"{param}.{field}";

        if (request.FileIds is not null && !caller.IsV1)
        {
            throw ApiErrors.InvalidRequest($"Unknown parameter: '{At("file_ids")}'.", At("file_ids"), "unknown_parameter");
        }
        var role = request.Role switch
        {
            "user" => MessageRole.User,
            "assistant" => MessageRole.Assistant,
            null => throw ApiErrors.MissingParameter(At("role")),
            var other => throw ApiErrors.InvalidRequest($"Invalid value: '{other}'. Supported values are: 'user' and 'assistant'.", At("role"), "invalid_value"),
        };
        if (request.Content is null)
        {
            throw ApiErrors.MissingParameter(At("content"));
        }
        if (request.Content.Parts.Count == 0)
        {
            throw ApiErrors.InvalidRequest($"Invalid '{At("content")}': empty array. Expected an array with minimum length 1, but got an empty array instead.", At("content"), "empty_array");
        }
        var content = new List<MessageContent>();
        var imageFileIds = new List<string>();
        for (var i = 0; i < request.Content.Parts.Count; i++)
        {
            var at = $"{At("content")}[{i}]";
            content.Add(request.Content.Parts[i] switch
            {
                TextPart { Text: { } text } => new TextContent(new MessageText(text, [])),
                ImageFilePart { ImageFile.FileId: { Length: > 0 } fileId } part => AddImage(new ImageFileContent(part.ImageFile), fileId, imageFileIds),
                ImageUrlPart { ImageUrl.Url: { Length: > 0 } url } part when Uri.TryCreate(url, UriKind.Absolute, out _) => new ImageUrlContent(part.ImageUrl),
                ImageUrlPart => throw ApiErrors.InvalidRequest($"Invalid '{at}.image_url.url': expected an absolute URL.", $"{at}.image_url.url", "invalid_value"),
                null => throw ApiErrors.InvalidRequest($"Invalid type for '{at}': expected an object, but got null instead.", at, "invalid_type"),
                _ => throw ApiErrors.InvalidRequest($"Invalid '{at}': the content part is incomplete.", at, "invalid_value"),
            });
        }
        await Validate.FilesExistAsync(files, caller.ProjectId, imageFileIds, At("content.image_file.file_id"), cancellationToken);
        for (var i = 0; i < imageFileIds.Count; i++)
        {
            // An image the model is shown must have been uploaded for that: 'vision' or 'assistants' (or drawn by code_interpreter).
            var file = await files.FindAsync(caller.ProjectId, imageFileIds[i], cancellationToken);
            if (file is not null && !ImagePurposes.Contains(file.Purpose))
            {
                throw ApiErrors.InvalidRequest(
                    $"Invalid '{At("content.image_file.file_id")}': file '{file.Id}' has purpose '{file.Purpose}'; image files must have purpose 'vision' or 'assistants'.",
                    At("content.image_file.file_id"), "invalid_value");
            }
        }

        var attachments = new List<MessageAttachment>();
        for (var i = 0; request.Attachments is not null && i < request.Attachments.Count; i++)
        {
            var at = $"{At("attachments")}[{i}]";
            var attachment = request.Attachments[i] ?? throw ApiErrors.InvalidRequest($"Invalid type for '{at}': expected an object.", at, "invalid_type");
            if (string.IsNullOrEmpty(attachment.FileId))
            {
                throw ApiErrors.MissingParameter($"{at}.file_id");
            }
            var tools = attachment.Tools ?? [];
            for (var j = 0; j < tools.Count; j++)
            {
                if (tools[j] is not { Type: { } type } || !AttachmentToolTypes.Contains(type))
                {
                    throw ApiErrors.InvalidRequest($"Invalid value: '{tools[j]?.Type}'. Supported values are: 'code_interpreter' and 'file_search'.", $"{at}.tools[{j}].type", "invalid_value");
                }
            }
            attachments.Add(new MessageAttachment(attachment.FileId, tools.Select(t => t!).ToList()));
        }
        // COMPAT: v1 message file_ids become attachments usable by both built-in tools.
        foreach (var fileId in request.FileIds ?? [])
        {
            attachments.Add(new MessageAttachment(fileId, [new AttachmentTool("code_interpreter"), new AttachmentTool("file_search")]));
        }
        await Validate.FilesExistAsync(files, caller.ProjectId, attachments.Select(a => a.FileId).ToList(), At("attachments.file_id"), cancellationToken);

        var now = time.GetUtcNow();
        return new ThreadMessage(ids.NewId(Ids.Message), caller.ProjectId, now, threadId, role, content, MessageStatus.Completed,
            attachments, Validate.Metadata(request.Metadata, At("metadata")));
    }

    private static ImageFileContent AddImage(ImageFileContent content, string fileId, List<string> imageFileIds)
    {
        imageFileIds.Add(fileId);
        return content;
    }
}
