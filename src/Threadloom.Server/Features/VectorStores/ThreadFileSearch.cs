using Threadloom.Core.Domain;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Storage;
using Threadloom.Server.Http;

namespace Threadloom.Server.Features.VectorStores;

/// <summary>
/// The implicit vector stores of runs: message attachments with the <c>file_search</c> tool go to the thread's
/// vector store (created when the thread has none, and named in its <c>tool_resources</c>), and a run whose
/// file_search would read a deleted vector store is refused at creation.
/// </summary>
public sealed class ThreadFileSearch(IThreadStore threads, IVectorStoreStore stores, VectorStoreService service)
{
    /// <summary>OpenAI lets a thread's implicit store expire 7 days after its last activity.</summary>
    public const int ThreadStoreExpiryDays = 7;

    /// <summary>Adds the <c>file_search</c> attachments of <paramref name="messages"/> to the thread's store; returns the thread as stored.</summary>
    public async Task<AssistantThread> AttachAsync(AssistantThread thread, IEnumerable<ThreadMessage> messages, CancellationToken cancellationToken)
    {
        var fileIds = messages.SelectMany(m => m.Attachments)
            .Where(a => a.Tools.Any(t => t.Type == "file_search"))
            .Select(a => a.FileId).Distinct(StringComparer.Ordinal).ToList();
        if (fileIds.Count == 0)
        {
            return thread;
        }
        if (thread.ToolResources?.FileSearch?.VectorStoreIds is [var existing, ..]
            && await stores.FindAsync(thread.ProjectId, existing, cancellationToken) is not null)
        {
            await service.AddFilesAsync(thread.ProjectId, existing,
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
    /// set up): 400 at run creation, as OpenAI answers, rather than a run that silently searches nothing.
    /// </summary>
    public async Task EnsureStoresExistAsync(IReadOnlyList<ToolDefinition> runTools, Assistant assistant, AssistantThread? thread, CancellationToken cancellationToken)
    {
        if (!runTools.Any(t => t is FileSearchToolDefinition))
        {
            return;
        }
        (string Owner, IReadOnlyList<string>? Ids)[] owners =
            [("assistant", assistant.ToolResources?.FileSearch?.VectorStoreIds), ("thread", thread?.ToolResources?.FileSearch?.VectorStoreIds)];
        foreach (var (owner, ids) in owners)
        {
            if (ids is not { Count: > 0 })
            {
                continue;
            }
            var missing = await stores.FindMissingAsync(assistant.ProjectId, ids, cancellationToken);
            if (missing.Count > 0)
            {
                throw ApiErrors.InvalidRequest(
                    $"The {owner}'s tool_resources.file_search names vector store '{missing[0]}', which does not exist. Update the {owner}'s tool_resources.",
                    "tool_resources.file_search.vector_store_ids", "invalid_value");
            }
        }
    }
}
