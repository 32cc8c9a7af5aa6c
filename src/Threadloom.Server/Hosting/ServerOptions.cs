namespace Threadloom.Server.Hosting;

public sealed class ServerOptions
{
    public const string SectionName = "Server";

    /// <summary>Where the SQLite file and the blob folder live; <c>THREADLOOM_DATA_DIR</c> or <c>./data</c> by default.</summary>
    public string? DataDirectory { get; init; }

    public const string DefaultUrl = "http://127.0.0.1:8080";
}
