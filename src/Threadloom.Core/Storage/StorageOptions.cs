using System.ComponentModel.DataAnnotations;

namespace Threadloom.Core.Storage;

/// <summary>Which database holds the data.</summary>
public enum StorageProvider
{
    /// <summary>One SQLite file under the data folder (the default; one node).</summary>
    Sqlite,

    /// <summary>PostgreSQL at <see cref="StorageOptions.ConnectionString"/>; any number of nodes may share it.</summary>
    Postgres,
}

/// <summary>Where blob bytes live.</summary>
public enum BlobLocation
{
    /// <summary>A folder: <c>{data}/blobs</c>, or <see cref="StorageOptions.BlobDirectory"/> (shared by every node in a cluster).</summary>
    Folder,

    /// <summary>In the database, as chunked <c>bytea</c> (PostgreSQL only): a cluster then needs nothing but the database.</summary>
    Database,
}

/// <summary>Storage settings (section <c>Storage</c>).</summary>
public sealed class StorageOptions : IValidatableObject
{
    public const string SectionName = "Storage";

    public StorageProvider Provider { get; set; } = StorageProvider.Sqlite;

    /// <summary>The Npgsql connection string; required with <see cref="StorageProvider.Postgres"/>. Never logged.</summary>
    public string? ConnectionString { get; set; }

    public BlobLocation Blobs { get; set; } = BlobLocation.Folder;

    /// <summary>The blob folder; default <c>{data}/blobs</c>.</summary>
    public string? BlobDirectory { get; set; }

    /// <summary>How long a written blob is kept with no file referencing it; bounds how long an upload may take.</summary>
    public TimeSpan BlobGracePeriod { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often unreferenced blobs past their grace period are collected.</summary>
    public TimeSpan BlobSweepInterval { get; set; } = TimeSpan.FromMinutes(10);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Provider == StorageProvider.Postgres && string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return new ValidationResult("Storage:Provider is 'postgres' but Storage:ConnectionString is empty.", [nameof(ConnectionString)]);
        }
        if (Blobs == BlobLocation.Database && Provider != StorageProvider.Postgres)
        {
            yield return new ValidationResult("Storage:Blobs 'database' needs Storage:Provider 'postgres'.", [nameof(Blobs)]);
        }
        if (BlobGracePeriod < TimeSpan.FromSeconds(1) || BlobSweepInterval < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Storage:BlobGracePeriod and Storage:BlobSweepInterval must be at least one second.", [nameof(BlobGracePeriod)]);
        }
    }
}
