using System.Diagnostics;
using System.Globalization;
using System.Text;
using Threadloom.Sandbox.Files;

namespace Threadloom.Sandbox;

/// <summary>
/// Builds the command line that starts Python in the sandbox:
/// <c>prlimit … setpriv --reuid U … bwrap … /usr/bin/python3 …</c>.
/// </summary>
/// <remarks>Design notes: bwrap runs as a dedicated, unprivileged host uid per session (mapped to 65534 inside), not as
/// root: RLIMIT_NPROC is not enforced for host root, and files a root-mapped sandbox creates would be owned by
/// root. A distinct uid per session also keeps one session's fork bomb from using up another's process budget.</remarks>
internal static class BubblewrapCommand
{
    public static ProcessStartInfo Create(CodeInterpreterOptions options, SandboxLayout layout, SessionFolder folder,
        IReadOnlyList<string> pythonArguments, IReadOnlyDictionary<string, string>? extraEnvironment = null)
    {
        var info = new ProcessStartInfo(options.PrlimitPath)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
            WorkingDirectory = "/",
        };
        // bwrap's own process (pid 1 inside the sandbox) keeps the environment it was started with, and
        // /proc/1/environ is readable from inside: never hand it the server's variables (API keys, connection strings).
        info.Environment.Clear();
        info.Environment["PATH"] = "/usr/bin:/bin";
        foreach (var argument in Arguments(options, layout, folder, pythonArguments, extraEnvironment))
        {
            info.ArgumentList.Add(argument);
        }
        return info;
    }

    public static IReadOnlyList<string> Arguments(CodeInterpreterOptions options, SandboxLayout layout, SessionFolder folder,
        IReadOnlyList<string> pythonArguments, IReadOnlyDictionary<string, string>? extraEnvironment = null)
    {
        var uid = folder.Uid.ToString(CultureInfo.InvariantCulture);
        var cpuSoft = options.CpuSecondsPerKernel;
        var args = new List<string>
        {
            // prlimit (as root) sets the limits, which survive setpriv's and bwrap's exec.
            // The tmpfs sizes are carved out of the session's memory (CodeInterpreterOptions.MemoryBytes).
            $"--as={options.AddressSpaceBytes}",
            $"--cpu={cpuSoft}:{cpuSoft + 5}",
            $"--fsize={options.MaxFileSizeBytes}",
            $"--nproc={options.MaxProcesses}",
            $"--nofile={options.MaxOpenFiles}",
            "--core=0",
            options.SetprivPath, "--reuid", uid, "--regid", uid, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
            options.BubblewrapPath,
            "--unshare-all", "--die-with-parent", "--new-session",
            "--uid", "65534", "--gid", "65534", "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc",
            // --dev builds a tmpfs with only null, zero, full, random, urandom, tty and a private devpts; --size does
            // not apply to it (bwrap 0.8: "--size must be followed by --tmpfs"), so it is made read-only below and
            // /dev/shm gets its own sized tmpfs.
            "--dev", "/dev",
            "--size", options.ShmSizeBytes.ToString(CultureInfo.InvariantCulture), "--tmpfs", "/dev/shm",
            "--size", options.TmpSizeBytes.ToString(CultureInfo.InvariantCulture), "--tmpfs", "/tmp",
            "--dir", "/etc",
        };
        // Only what Python, numpy (BLAS via alternatives) and matplotlib (fonts) need from the host's /etc.
        foreach (var hostEtc in new[] { "/etc/alternatives", "/etc/fonts", "/etc/ld.so.cache", "/etc/localtime", "/etc/mime.types" })
        {
            args.AddRange(["--ro-bind-try", hostEtc, hostEtc]);
        }
        foreach (var generated in new[] { "passwd", "group", "hosts", "matplotlibrc" })
        {
            args.AddRange(["--ro-bind", Path.Combine(layout.EtcDir, generated), "/etc/" + generated]);
        }
        args.AddRange([
            "--ro-bind", layout.KernelScript, "/opt/threadloom/kernel.py",
            "--bind", folder.DataPath, "/mnt/data",
            "--bind", folder.FiguresPath, "/opt/threadloom/figures",
            // The root bwrap builds (and /etc in it) would otherwise be writable by the sandbox user, and so would /dev.
            "--remount-ro", "/",
            "--remount-ro", "/dev",
            "--chdir", "/mnt/data",
            "--clearenv",
        ]);
        var environment = new Dictionary<string, string>
        {
            ["HOME"] = "/tmp",
            ["USER"] = "nobody",
            ["LANG"] = "C.UTF-8",
            ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
            ["TMPDIR"] = "/tmp",
            ["MPLBACKEND"] = "Agg",
            ["MPLCONFIGDIR"] = "/tmp",
            ["PYTHONDONTWRITEBYTECODE"] = "1",
            ["PYTHONUNBUFFERED"] = "1",
            ["PYTHONIOENCODING"] = "utf-8:backslashreplace",
            ["OPENBLAS_NUM_THREADS"] = "1",
            ["OMP_NUM_THREADS"] = "1",
            ["MKL_NUM_THREADS"] = "1",
            ["NUMEXPR_NUM_THREADS"] = "1",
        };
        if (extraEnvironment is not null)
        {
            foreach (var (key, value) in extraEnvironment)
            {
                environment[key] = value;
            }
        }
        foreach (var (key, value) in environment)
        {
            args.AddRange(["--setenv", key, value]);
        }
        args.Add(options.PythonPath);
        args.AddRange(pythonArguments);
        return args;
    }
}
