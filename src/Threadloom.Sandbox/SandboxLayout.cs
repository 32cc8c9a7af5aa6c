using Threadloom.Sandbox.Files;

namespace Threadloom.Sandbox;

/// <summary>
/// The host folders of the sandbox: <c>runtime/</c> (kernel script and a minimal <c>/etc</c>, read-only inside) and
/// <c>sessions/</c> (one folder per kernel, see <see cref="SessionFolder"/>).
/// </summary>
internal sealed class SandboxLayout
{
    internal const UnixFileMode Traverse = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private const UnixFileMode ReadableDir = Traverse | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    internal const UnixFileMode ReadableFile = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public SandboxLayout(string workRoot)
    {
        Root = Path.GetFullPath(workRoot);
        Runtime = Path.Combine(Root, "runtime");
        Sessions = Path.Combine(Root, "sessions");
    }

    public string Root { get; }
    public string Runtime { get; }
    public string Sessions { get; }
    public string KernelScript => Path.Combine(Runtime, "kernel.py");
    public string EtcDir => Path.Combine(Runtime, "etc");

    /// <summary>Writes the runtime files and removes session folders left by an earlier process; returns those it could not remove.</summary>
    public IReadOnlyList<string> Prepare()
    {
        CreateDir(Root, Traverse);
        CreateDir(Runtime, ReadableDir);
        CreateDir(EtcDir, ReadableDir);
        CreateDir(Sessions, Traverse);
        var left = RemoveStaleSessions();

        using (var kernel = typeof(SandboxLayout).Assembly.GetManifestResourceStream("Threadloom.Sandbox.kernel.py")
            ?? throw new InvalidOperationException("The kernel script resource is missing."))
        {
            WriteFile(KernelScript, kernel);
        }
        WriteText("passwd", "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n");
        WriteText("group", "root:x:0:\nnogroup:x:65534:\n");
        WriteText("hosts", "127.0.0.1 localhost\n::1 localhost\n");
        WriteText("matplotlibrc", "backend: Agg\n");
        return left;
    }

    /// <summary>
    /// Deletes the session folders an earlier process left, whatever was planted in them (names that are not UTF-8,
    /// deep trees, read-only folders, FIFOs, links). One folder that cannot be removed is reported and skipped: it never
    /// stops the sandbox from starting. Returns the names (escaped) of the folders left in place.
    /// </summary>
    public IReadOnlyList<string> RemoveStaleSessions()
    {
        var left = new List<string>();
        using var sessions = Native.OpenDirectoryPath(Sessions);
        foreach (var (name, _) in Native.ReadDirectory(sessions, int.MaxValue))
        {
            if (!SafeDirectory.DeleteTree(sessions, name))
            {
                left.Add(FileNames.Escape(name));
            }
        }
        return left;
    }

    private void WriteText(string name, string text)
    {
        using var content = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text));
        WriteFile(Path.Combine(EtcDir, name), content);
    }

    private static void WriteFile(string path, Stream content)
    {
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = ReadableFile,
        }))
        {
            content.CopyTo(file);
        }
        File.SetUnixFileMode(temp, ReadableFile);
        File.Move(temp, path, overwrite: true);
    }

    private static void CreateDir(string path, UnixFileMode mode)
    {
        var info = Directory.CreateDirectory(path, mode);
        if (info.LinkTarget is not null)
        {
            throw new InvalidOperationException($"Sandbox folder {path} is a symbolic link; refusing to use it.");
        }
        File.SetUnixFileMode(path, mode);
    }
}
