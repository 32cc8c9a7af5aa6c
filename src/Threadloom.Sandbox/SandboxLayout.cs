namespace Threadloom.Sandbox;

/// <summary>
/// The host folders of the sandbox: <c>runtime/</c> (kernel script and a minimal <c>/etc</c>, read-only inside) and
/// <c>sessions/</c> (one working folder per kernel, owned by its host uid, bound at <c>/mnt/data</c>).
/// </summary>
internal sealed class SandboxLayout
{
    private const UnixFileMode Traverse = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private const UnixFileMode ReadableDir = Traverse | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode ReadableFile = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

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

    /// <summary>Writes the runtime files and removes working folders left by an earlier process.</summary>
    public void Prepare()
    {
        CreateDir(Root, Traverse);
        CreateDir(Runtime, ReadableDir);
        CreateDir(EtcDir, ReadableDir);
        if (Directory.Exists(Sessions))
        {
            Directory.Delete(Sessions, recursive: true);
        }
        CreateDir(Sessions, Traverse);

        using (var kernel = typeof(SandboxLayout).Assembly.GetManifestResourceStream("Threadloom.Sandbox.kernel.py")
            ?? throw new InvalidOperationException("The kernel script resource is missing."))
        {
            WriteFile(KernelScript, kernel);
        }
        WriteText("passwd", "root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n");
        WriteText("group", "root:x:0:\nnogroup:x:65534:\n");
        WriteText("hosts", "127.0.0.1 localhost\n::1 localhost\n");
        WriteText("matplotlibrc", "backend: Agg\n");
    }

    /// <summary>Creates an empty working folder owned by <paramref name="uid"/>, reachable by nobody else.</summary>
    public string CreateWorkDir(int uid)
    {
        var dir = Path.Combine(Sessions, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Native.ChownPath(dir, uid);
        return dir;
    }

    public static void DeleteWorkDir(string dir)
    {
        try
        {
            // Directory.Delete removes symbolic links without following them.
            Directory.Delete(dir, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
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
