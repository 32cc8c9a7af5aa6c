using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Threadloom.Sandbox;

/// <summary>chown is not in the BCL; session folders and input files must belong to the session's host uid.</summary>
internal static partial class Native
{
    [LibraryImport("libc", EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int LChown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    private static partial int FChown(SafeFileHandle handle, uint owner, uint group);

    public static void ChownPath(string path, int uid)
    {
        if (LChown(path, (uint)uid, (uint)uid) != 0)
        {
            throw new IOException($"chown of {path} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    public static void ChownHandle(SafeFileHandle handle, int uid)
    {
        if (FChown(handle, (uint)uid, (uint)uid) != 0)
        {
            throw new IOException($"fchown failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    /// <summary>
    /// How many tasks (threads, zombies included) run as <paramref name="uid"/>: what RLIMIT_NPROC counts. After a fork
    /// bomb the killed processes take a moment to be torn down and reaped and still count, so a kernel started for
    /// the uid at once could not fork.
    /// </summary>
    public static int CountTasks(int uid)
    {
        var wanted = uid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tasks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(dir);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]))
            {
                continue;
            }
            try
            {
                var ours = false;
                foreach (var line in File.ReadLines(Path.Combine(dir, "status")))
                {
                    if (line.StartsWith("Uid:", StringComparison.Ordinal))
                    {
                        ours = line.Split('\t', StringSplitOptions.RemoveEmptyEntries) is [_, var real, ..] && real == wanted;
                        if (!ours)
                        {
                            break;
                        }
                    }
                    else if (ours && line.StartsWith("Threads:", StringComparison.Ordinal))
                    {
                        tasks += int.TryParse(line.AsSpan(8).Trim(), out var n) ? n : 1;
                        break;
                    }
                }
            }
            catch (IOException)
            {
                // The process exited while being read.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to read.
            }
        }
        return tasks;
    }
}
