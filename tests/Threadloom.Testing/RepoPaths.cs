namespace Threadloom.Testing;

/// <summary>Finds the repository (the folder holding <c>Threadloom.slnx</c>) and the shared scenarios beside it.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    public static string ScenarioData(string relative) => Path.Combine(Shared, "scenarios", "data", relative);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Threadloom.slnx")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Threadloom.slnx not found above " + AppContext.BaseDirectory);
    }
}
