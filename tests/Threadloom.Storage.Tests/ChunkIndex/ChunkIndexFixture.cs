using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Threadloom.Core.Ingestion;
using Threadloom.Core.Tools.FileSearch;
using Threadloom.Storage.Sqlite;

namespace Threadloom.Storage.Tests.ChunkIndex;

/// <summary>A migrated SQLite file in a temp folder, the real MiniLM model and the real pipeline over them.</summary>
public sealed class ChunkIndexFixture : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "threadloom-chunks-" + Guid.NewGuid().ToString("N"));

    public ChunkIndexFixture()
    {
        Directory.CreateDirectory(_dir);
        Database = new SqliteDatabase(Path.Combine(_dir, "test.db"));
        new SqliteMigrator(Database).MigrateAsync(CancellationToken.None).GetAwaiter().GetResult();
        Index = new SqliteChunkIndex(Database);
        Embeddings = new MiniLmEmbeddingGenerator();
        var options = Options.Create(new IngestionOptions());
        Ingestor = new FileIngestor(new TextExtractor(options), new TextChunker(), Embeddings, Index, options, NullLogger<FileIngestor>.Instance);
        Search = new HybridFileSearch(Index, Embeddings);
    }

    public SqliteDatabase Database { get; }
    public SqliteChunkIndex Index { get; }
    public MiniLmEmbeddingGenerator Embeddings { get; }
    public FileIngestor Ingestor { get; }
    public HybridFileSearch Search { get; }

    public Task<IngestionResult> IngestAsync(string vectorStoreId, string fileId, string name, byte[] bytes, StaticChunkingStrategy? strategy = null,
        IReadOnlyDictionary<string, System.Text.Json.JsonElement>? attributes = null) =>
        Ingestor.IngestAsync(new IngestionRequest("proj_test", vectorStoreId, fileId, name, new MemoryStream(bytes), strategy, attributes), CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        Embeddings.Dispose();
        await Database.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }
}


/// <summary>Finds <c>shared/scenarios/data</c> next to the repository root (the folder holding Threadloom.slnx).</summary>
internal static class SharedData
{
    public static string Root { get; } = Find();

    public static byte[] Read(string relative) => File.ReadAllBytes(Path.Combine(Root, relative));

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Threadloom.slnx")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "scenarios", "data"));
            }
        }
        throw new InvalidOperationException("Threadloom.slnx not found above " + AppContext.BaseDirectory);
    }
}
