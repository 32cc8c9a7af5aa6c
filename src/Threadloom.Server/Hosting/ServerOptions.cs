namespace Threadloom.Server.Hosting;

public sealed class ServerOptions
{
    public const string SectionName = "Server";

    /// <summary>Where the SQLite file and the blob folder live; <c>THREADLOOM_DATA_DIR</c> or <c>./data</c> by default.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>
    /// This node's id in run leases. By default it is taken, exclusively, from <c>{DataDirectory}/node/</c>, so a
    /// restart on the same data recognises its earlier life; set it only when nodes share no data folder, and then
    /// uniquely per live node.
    /// </summary>
    public string? NodeId { get; init; }

    public const string DefaultUrl = "http://127.0.0.1:8080";
}
