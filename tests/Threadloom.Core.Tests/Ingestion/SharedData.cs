namespace Threadloom.Core.Tests.Ingestion;

/// <summary>Finds <c>shared/scenarios/data</c>: the folder next to the repository root (the one holding Threadloom.slnx).</summary>
internal static class SharedData
{
    public static string Root { get; } = Find();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static byte[] Read(string relative) => File.ReadAllBytes(PathOf(relative));

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
