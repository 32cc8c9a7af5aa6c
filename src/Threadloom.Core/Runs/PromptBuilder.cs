using Microsoft.Extensions.Options;
using Threadloom.Core.Domain;
using Threadloom.Core.Inference;
using Threadloom.Core.Storage;
using Threadloom.Core.Storage.Blobs;
using AI = Microsoft.Extensions.AI;

namespace Threadloom.Core.Runs;

/// <summary>What the model route allows a prompt to carry.</summary>
/// <param name="Vision">The route's model accepts images (<see cref="ResolvedModel.Vision"/>).</param>
public sealed record PromptOptions(bool Vision);

/// <summary>The thread cannot be sent to the route's model (images to a model without vision, an unreadable image).
/// The message is safe to show users; the run fails with <c>invalid_prompt</c>.</summary>
public sealed class PromptRejectedException(string message) : Exception(message);

/// <summary>
/// Turns a thread into chat messages: messages written by the user (or injected as assistant turns) in thread
/// order; each run's own output replayed from its steps in step order (its messages, its tool calls and their
/// results); the current run's steps last.
/// </summary>
/// <remarks>
/// Design notes: a run's messages and tool calls live in different tables with no common order, but the run's
/// steps record both in the order they happened, so a run is expanded from its steps at the position of its
/// first message. Tool calls without outputs (a run that expired or was cancelled while waiting) are left out:
/// upstream APIs reject a call without its result.
/// <para>Images: <c>image_file</c> parts are read from the blob store (bounded by <see cref="RunsOptions.MaxImageBytes"/>)
/// and sent as data URLs with their <c>detail</c>; <c>image_url</c> parts are sent as URLs with theirs. Chat APIs take
/// images only in user messages, so a code interpreter image is shown as a user message right after the tool
/// results of the call that drew it (once: the assistant message that also shows it sends its text only).</para>
/// </remarks>
public sealed class PromptBuilder(IMessageStore messages, IRunStepStore steps, IFileStore files, IBlobStore blobs, IOptions<RunsOptions> options)
{
    /// <summary>Text that introduces the code interpreter images the model is shown.</summary>
    public const string CodeImagesCaption = "Images produced by the code_interpreter call above:";

    private static readonly string[] ImagePurposes = ["vision", "assistants", "assistants_output"];

    /// <summary>
    /// The prompt of <paramref name="run"/>'s next model call. <paramref name="runHasSteps"/> false says the run has
    /// written no step yet (its executor knows: a run never started has none), which saves reading them.
    /// </summary>
    public async Task<List<AI.ChatMessage>> BuildAsync(Run run, PromptOptions prompt, bool runHasSteps, CancellationToken cancellationToken)
    {
        var all = new List<ThreadMessage>();
        string? after = null;
        while (true)
        {
            var page = await messages.ListAsync(run.ProjectId, run.ThreadId, null, new PageRequest(100, Ascending: true, After: after), cancellationToken);
            all.AddRange(page.Items);
            if (!page.HasMore || page.Items.Count == 0)
            {
                break;
            }
            after = page.Items[^1].Id;
        }
        var context = new BuildContext(run, prompt, options.Value.MaxPromptImageBytes);
        var byId = all.ToDictionary(m => m.Id, StringComparer.Ordinal);
        var result = new List<AI.ChatMessage>();
        var expanded = new HashSet<string>(StringComparer.Ordinal);
        foreach (var message in all)
        {
            if (message.RunId is null)
            {
                await AddMessageAsync(result, message, context, cancellationToken);
            }
            else if (expanded.Add(message.RunId))
            {
                await ExpandRunAsync(result, message.RunId, byId, context, cancellationToken);
            }
        }
        if (expanded.Add(run.Id) && runHasSteps)
        {
            await ExpandRunAsync(result, run.Id, byId, context, cancellationToken);
        }
        return result;
    }

    private async Task ExpandRunAsync(List<AI.ChatMessage> result, string runId, Dictionary<string, ThreadMessage> byId, BuildContext context, CancellationToken cancellationToken)
    {
        foreach (var step in await steps.ListAllAsync(runId, cancellationToken))
        {
            switch (step.StepDetails)
            {
                case MessageCreationStepDetails creation when byId.TryGetValue(creation.MessageCreation.MessageId, out var message):
                    await AddMessageAsync(result, message, context, cancellationToken);
                    break;
                case ToolCallsStepDetails toolCalls:
                    var answered = new List<(ModelToolCall Call, string Output)>();
                    foreach (var call in toolCalls.ToolCalls)
                    {
                        if (call is FunctionStepToolCall { Function.Output: { } output } function)
                        {
                            answered.Add((new ModelToolCall(function.Id, function.Function.Name, function.Function.Arguments), output));
                        }
                        else if (step.BuiltInCalls?.TryGetValue(call.Id, out var builtIn) == true && builtIn is not null)
                        {
                            answered.Add((new ModelToolCall(call.Id, builtIn.Name, builtIn.Arguments), builtIn.Output));
                        }
                    }
                    if (answered.Count > 0)
                    {
                        result.Add(ModelMessages.AssistantToolCalls(answered.Select(a => a.Call)));
                        result.AddRange(answered.Select(a => ModelMessages.ToolResult(a.Call.Id, a.Output)));
                        await AddCodeImagesAsync(result, toolCalls, context, cancellationToken);
                    }
                    break;
            }
        }
    }

    /// <summary>Code interpreter images are shown only to a model with vision, and only while the prompt's image budget lasts.</summary>
    private async Task AddCodeImagesAsync(List<AI.ChatMessage> result, ToolCallsStepDetails toolCalls, BuildContext context, CancellationToken cancellationToken)
    {
        if (!context.Prompt.Vision)
        {
            return;
        }
        var images = new List<AI.AIContent>();
        foreach (var output in toolCalls.ToolCalls.OfType<CodeInterpreterStepToolCall>().SelectMany(c => c.CodeInterpreter.Outputs).OfType<CodeInterpreterImageOutput>())
        {
            if (await ReadImageAsync(output.Image.FileId, null, context, required: false, cancellationToken) is { } image)
            {
                images.Add(image);
            }
        }
        if (images.Count > 0)
        {
            result.Add(new AI.ChatMessage(AI.ChatRole.User, [new AI.TextContent(CodeImagesCaption), .. images]));
        }
    }

    private async Task AddMessageAsync(List<AI.ChatMessage> result, ThreadMessage message, BuildContext context, CancellationToken cancellationToken)
    {
        var contents = new List<AI.AIContent>();
        var images = new List<AI.AIContent>();
        // A run's own message shows its code interpreter images at their tool step; only a message the client wrote
        // (a user turn, or an injected assistant turn) brings its own images.
        var ownImages = message.RunId is null;
        foreach (var part in message.Content)
        {
            switch (part)
            {
                case TextContent text when text.Text.Value.Length > 0:
                    contents.Add(new AI.TextContent(text.Text.Value));
                    break;
                case ImageFileContent image when ownImages:
                    RequireVision(context, message);
                    if (await ReadImageAsync(image.ImageFile.FileId, image.ImageFile.Detail, context, required: true, cancellationToken) is { } data)
                    {
                        images.Add(data);
                    }
                    break;
                case ImageUrlContent image when ownImages:
                    RequireVision(context, message);
                    if (ImageUrl(image.ImageUrl) is { } url)
                    {
                        images.Add(url);
                    }
                    break;
                case RefusalContent refusal:
                    contents.Add(new AI.TextContent(refusal.Refusal));
                    break;
            }
        }
        if (message.Role == MessageRole.Assistant)
        {
            if (contents.Count > 0)
            {
                result.Add(new AI.ChatMessage(AI.ChatRole.Assistant, contents));
            }
            if (images.Count > 0)
            {
                // Chat APIs reject images in assistant messages: an injected assistant turn's images follow it as a user turn.
                result.Add(new AI.ChatMessage(AI.ChatRole.User, images));
            }
            return;
        }
        contents.AddRange(images);
        if (contents.Count > 0)
        {
            result.Add(new AI.ChatMessage(AI.ChatRole.User, contents));
        }
    }

    private static void RequireVision(BuildContext context, ThreadMessage message)
    {
        if (!context.Prompt.Vision)
        {
            // COMPAT: OpenAI answers a model without vision with "Invalid content type. image_url is only supported by certain models."
            throw new PromptRejectedException(
                $"Invalid content type. Images are only supported by certain models, and the route of model '{context.Run.Model}' declares no vision " +
                $"(message {message.Id} holds an image). Use a model with vision, or set Vision on its Inference:Models route if it has it.");
        }
    }

    private static AI.AIContent? ImageUrl(ImageUrl image)
    {
        AI.AIContent content;
        if (image.Url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                content = new AI.DataContent(image.Url);
            }
            catch (FormatException)
            {
                throw new PromptRejectedException("An image_url holds a data URL that is not valid base64 image data.");
            }
        }
        else if (Uri.TryCreate(image.Url, UriKind.Absolute, out var uri))
        {
            content = new AI.UriContent(uri, "image/*");
        }
        else
        {
            return null;
        }
        WithDetail(content, image.Detail);
        return content;
    }

    /// <summary>
    /// Reads an image file into a data part. A user's image (<paramref name="required"/>) that cannot be sent fails the
    /// prompt; a code interpreter image that cannot is left out. A deleted file is left out either way, as its message
    /// still names it.
    /// </summary>
    private async Task<AI.AIContent?> ReadImageAsync(string fileId, string? detail, BuildContext context, bool required, CancellationToken cancellationToken)
    {
        var file = await files.FindAsync(context.Run.ProjectId, fileId, cancellationToken);
        if (file is null)
        {
            return null;
        }
        string? problem = null;
        var limit = options.Value.MaxImageBytes;
        if (!ImagePurposes.Contains(file.Purpose))
        {
            problem = $"File {fileId} has purpose '{file.Purpose}'; an image_file must be a 'vision' or 'assistants' file.";
        }
        else if (file.Bytes > limit)
        {
            problem = $"Image {fileId} is {file.Bytes} bytes, above the limit of {limit} bytes (Runs:MaxImageBytes).";
        }
        else if (context.ImageBytesLeft < file.Bytes)
        {
            problem = $"The thread's images exceed the limit of {options.Value.MaxPromptImageBytes} bytes for one model call (Runs:MaxPromptImageBytes).";
        }
        byte[]? bytes = null;
        if (problem is null)
        {
            bytes = await ReadBoundedAsync(file.BlobKey, limit, cancellationToken);
            problem = bytes is null ? $"Image {fileId} is larger than the limit of {limit} bytes (Runs:MaxImageBytes)."
                : ImageMediaType(bytes) is null ? $"File {fileId} is not a PNG, JPEG, GIF or WebP image." : null;
        }
        if (problem is not null)
        {
            return required ? throw new PromptRejectedException(problem) : null;
        }
        context.ImageBytesLeft -= bytes!.Length;
        var content = new AI.DataContent(bytes, ImageMediaType(bytes)!);
        WithDetail(content, detail);
        return content;
    }

    private async Task<byte[]?> ReadBoundedAsync(string blobKey, long limit, CancellationToken cancellationToken)
    {
        await using var stream = await blobs.OpenReadAsync(blobKey, cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>The media type from the file's signature: the four formats OpenAI accepts for image input.</summary>
    internal static string? ImageMediaType(ReadOnlySpan<byte> bytes) => bytes switch
    {
        [0x89, 0x50, 0x4E, 0x47, ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x47, 0x49, 0x46, 0x38, ..] => "image/gif",
        [0x52, 0x49, 0x46, 0x46, _, _, _, _, 0x57, 0x45, 0x42, 0x50, ..] => "image/webp",
        _ => null,
    };

    /// <summary>M.E.AI's OpenAI adapter reads an image part's <c>detail</c> from this property.</summary>
    private static void WithDetail(AI.AIContent content, string? detail)
    {
        if (detail is not null)
        {
            (content.AdditionalProperties ??= [])["detail"] = detail;
        }
    }

    private sealed class BuildContext(Run run, PromptOptions prompt, long imageBytes)
    {
        public Run Run { get; } = run;

        public PromptOptions Prompt { get; } = prompt;

        public long ImageBytesLeft { get; set; } = imageBytes;
    }
}
