using System.ComponentModel.DataAnnotations;

namespace Threadloom.Storage.Sqlite;

/// <summary>Tuning of the SQLite chunk index (section <c>FileSearch</c>).</summary>
public sealed class SqliteChunkIndexOptions
{
    public const string SectionName = "FileSearch";

    /// <summary>
    /// Bound of the in-memory vectors of searched stores (float32 rows plus their int8 copy, about 190 MB per 100,000
    /// chunks of 384 dimensions); past it the least recently searched stores are dropped and reloaded on their next
    /// search (about 1 s per 100,000 chunks). Default 2 GiB.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int VectorCacheMegabytes { get; set; } = 2048;
}
