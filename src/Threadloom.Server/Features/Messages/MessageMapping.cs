using Threadloom.Core.Domain;

namespace Threadloom.Server.Features.Messages;

internal static class MessageMapping
{
    public static MessageObject ToObject(this ThreadMessage m) => new(
        m.Id, m.CreatedAt.ToUnixTimeSeconds(), m.ThreadId,
        m.Status switch { MessageStatus.InProgress => "in_progress", MessageStatus.Incomplete => "incomplete", _ => "completed" },
        m.IncompleteReason is null ? null : new IncompleteDetails(m.IncompleteReason),
        m.CompletedAt?.ToUnixTimeSeconds(), m.IncompleteAt?.ToUnixTimeSeconds(),
        m.Role == MessageRole.Assistant ? "assistant" : "user",
        m.Content, m.AssistantId, m.RunId, m.Attachments, m.Metadata);
}
