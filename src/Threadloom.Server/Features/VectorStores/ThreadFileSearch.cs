using Threadloom.Core.Domain;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.VectorStores;

/// <summary>
/// The implicit vector stores of runs: message attachments with the <c>file_search</c> tool go to the thread's
/// vector store (created when the thread has none, and named in its <c>tool_resources</c>), and a run whose
/// file_search would read a deleted or expired vector store is refused at creation.
/// </summary>
public sealed class ThreadFileSearch(IThreadStore threads, IVectorStoreStore stores, VectorStoreService service, TimeProvider time)
{
    /// <summary>OpenAI lets a thread's implicit store expire 7 days after its last activity.</summary>
    public const int ThreadStoreExpiryDays = 7;

    /// <summary>
    /// Refuses (400) <c>file_search</c> attachments for a thread whose store has expired. Called before the messages are
    /// written, so a refused request leaves nothing behind.
    /// </summary>
    public async Task EnsureAttachableAsync(AssistantThread thread, IEnumerable<ThreadMessage> messages, CancellationToken cancellationToken)
    {
        if (FileSearchAttachments(messages).Count > 0 && await ThreadStoreAsync(thread, cancellationToken) is { } existing)
        {
            VectorStoreService.EnsureNotExpired(existing.Store, time.GetUtcNow(), "attachments");
        }
    }

    /// <summary>Adds the <c>file_search</c> attachments of <paramref name="messages"/> to the thread's store; returns the thread as stored.</summary>
    public async Task<AssistantThread> AttachAsync(AssistantThread thread, IEnumerable<ThreadMessage> messages, CancellationToken cancellationToken)
    {
        var fileIds = FileSearchAttachments(messages);
        if (fileIds.Count == 0)
        {
            return thread;
        }
        if (await ThreadStoreAsync(thread, cancellationToken) is { } existing)
        {
            VectorStoreService.EnsureNotExpired(existing.Store, time.GetUtcNow(), "attachments");
            await service.AddFilesAsync(thread.ProjectId, existing.Store.Id,
                [.. fileIds.Select(id => new VectorStoreFileInput(id, StaticChunkingStrategy.Default, null))], null, cancellationToken);
            return thread;
        }
        var store = await service.CreateAsync(thread.ProjectId, "Thread files", null, new Dictionary<string, string>(),
            new VectorStoreExpiration("last_active_at", ThreadStoreExpiryDays), fileIds, StaticChunkingStrategy.Default, "attachments", cancellationToken);
        var updated = thread with { ToolResources = new ToolResources(thread.ToolResources?.CodeInterpreter, new FileSearchResources([store.Id])) };
        await threads.UpdateAsync(updated, cancellationToken);
        return updated;
    }

    /// <summary>
    /// A run with file_search must not name a vector store that is gone (deleted since the assistant or thread was
    /// set up) or expired: 400 at run creation, rather than a run that silently searches nothing (OpenAI: runs on a
    /// thread whose store expired fail until a new store is attached). The stores a run will search are then marked
    /// active, since taking part in a run is what <c>last_active_at</c> tracks and what keeps a store from expiring.
    /// </summary>
    public async Task UseStoresAsync(IReadOnlyList<ToolDefinition> runTools, Assistant assistant, AssistantThread? thread, CancellationToken cancellationToken)
    {
        if (!runTools.Any(t => t is FileSearchToolDefinition))
        {
            return;
        }
        var now = time.GetUtcNow();
        var used = new List<string>();
        (string Owner, IReadOnlyList<string>? Ids)[] owners =
            [("assistant", assistant.ToolResources?.FileSearch?.VectorStoreIds), ("thread", thread?.ToolResources?.FileSearch?.VectorStoreIds)];
        foreach (var (owner, ids) in owners)
        {
            foreach (var id in ids ?? [])
            {
                var state = await stores.FindAsync(assistant.ProjectId, id, cancellationToken) ?? throw ApiErrors.InvalidRequest(
                    $"The {owner}'s tool_resources.file_search names vector store '{id}', which does not exist. Update the {owner}'s tool_resources.",
                    "tool_resources.file_search.vector_store_ids", "invalid_value");
                if (state.Store.IsExpiredAt(now))
                {
                    throw ApiErrors.InvalidRequest(
                        $"The {owner}'s tool_resources.file_search names vector store '{id}', which has expired. Create a new vector store with the same files and attach it to the {owner}.",
                        "tool_resources.file_search.vector_store_ids");
                }
                used.Add(id);
            }
        }
        if (used.Count > 0)
        {
            await stores.TouchAsync(assistant.ProjectId, used, now, cancellationToken);
        }
    }

    private static List<string> FileSearchAttachments(IEnumerable<ThreadMessage> messages) => messages.SelectMany(m => m.Attachments)
        .Where(a => a.Tools.Any(t => t.Type == "file_search"))
        .Select(a => a.FileId).Distinct(StringComparer.Ordinal).ToList();

    private async Task<VectorStoreState?> ThreadStoreAsync(AssistantThread thread, CancellationToken cancellationToken) =>
        thread.ToolResources?.FileSearch?.VectorStoreIds is [var existing, ..] ? await stores.FindAsync(thread.ProjectId, existing, cancellationToken) : null;
}
