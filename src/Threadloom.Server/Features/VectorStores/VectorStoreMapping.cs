using Threadloom.Core.Domain;
using Threadloom.Core.Storage;

namespace Threadloom.Server.Features.VectorStores;

internal static class VectorStoreMapping
{
    public static FileCountsObject ToObject(this VectorStoreFileCounts c) => new(c.InProgress, c.Completed, c.Failed, c.Cancelled, c.Total);

    public static VectorStoreObject ToObject(this VectorStoreState state, DateTimeOffset now)
    {
        var s = state.Store;
        var status = s.IsExpiredAt(now) ? "expired"
            : state.Counts.InProgress > 0 ? "in_progress"
            : "completed";
        return new VectorStoreObject(s.Id, s.CreatedAt.ToUnixTimeSeconds(), s.Name, s.Description, state.UsageBytes, state.Counts.ToObject(), status,
            s.ExpiresAfter is { } e ? new ExpiresAfterObject(e.Anchor, e.Days) : null, s.ExpiresAt?.ToUnixTimeSeconds(), s.LastActiveAt?.ToUnixTimeSeconds(), s.Metadata);
    }

    public static VectorStoreFileObject ToObject(this VectorStoreFile f) => new(
        f.Id, f.UsageBytes, f.CreatedAt.ToUnixTimeSeconds(), f.VectorStoreId, WireStatus(f.Status), f.LastError,
        new ChunkingStrategyObject(new StaticChunkingObject(f.ChunkingStrategy.MaxChunkSizeTokens, f.ChunkingStrategy.ChunkOverlapTokens)),
        f.Attributes ?? new Dictionary<string, System.Text.Json.JsonElement>());

    public static VectorStoreFileBatchObject ToObject(this VectorStoreFileBatch b, VectorStoreFileCounts counts) => new(
        b.Id, b.CreatedAt.ToUnixTimeSeconds(), b.VectorStoreId,
        b.Cancelled ? "cancelled" : counts.InProgress > 0 ? "in_progress" : counts.Total > 0 && counts.Failed == counts.Total ? "failed" : "completed",
        counts.ToObject());

    public static string WireStatus(VectorStoreFileStatus status) => status switch
    {
        VectorStoreFileStatus.InProgress => "in_progress",
        VectorStoreFileStatus.Completed => "completed",
        VectorStoreFileStatus.Cancelled => "cancelled",
        _ => "failed",
    };
}
