using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Threadloom.Sandbox;

/// <summary>Reads the process tree from <c>/proc</c> (host view): children per thread, and whether a process is a zombie.</summary>
internal static class ProcessTree
{
    private static readonly byte[] ChildrenFile = Encoding.ASCII.GetBytes("/children");

    /// <summary>An open <c>/proc/&lt;pid&gt;/task</c>, kept for a process's life so each sweep costs a few syscalls.</summary>
    public static SafeFileHandle? OpenTasks(int pid)
    {
        try
        {
            return Native.OpenDirectoryPath($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task");
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Adds the children of every thread under <paramref name="tasks"/> to <paramref name="into"/> (nothing once the process is gone).</summary>
    public static void AddChildren(SafeFileHandle tasks, List<int> into)
    {
        List<(byte[] Name, byte Type)> threads;
        try
        {
            threads = Native.ReadDirectory(tasks, 65_536);
        }
        catch (IOException)
        {
            return;
        }
        Span<byte> buffer = stackalloc byte[4096];
        foreach (var (tid, _) in threads)
        {
            using var file = Native.TryOpenAt(tasks, [.. tid, .. ChildrenFile], Native.ORdOnly, 0, out _);
            if (file is null)
            {
                continue;
            }
            long offset = 0;
            var pid = 0;
            var digits = false;
            while (true)
            {
                int read;
                try
                {
                    read = RandomAccess.Read(file, buffer, offset);
                }
                catch (IOException)
                {
                    break;
                }
                if (read <= 0)
                {
                    break;
                }
                offset += read;
                foreach (var b in buffer[..read])
                {
                    if (b is >= (byte)'0' and <= (byte)'9')
                    {
                        pid = (pid * 10) + (b - '0');
                        digits = true;
                    }
                    else if (digits)
                    {
                        into.Add(pid);
                        pid = 0;
                        digits = false;
                    }
                }
            }
            if (digits)
            {
                into.Add(pid);
            }
        }
    }

    /// <summary>The children of every thread of <paramref name="pid"/> (empty when it is gone).</summary>
    public static List<int> Children(int pid)
    {
        var children = new List<int>();
        using var tasks = OpenTasks(pid);
        if (tasks is not null)
        {
            AddChildren(tasks, children);
        }
        return children;
    }

    /// <summary>True when the process has exited and waits to be reaped (or is already gone).</summary>
    public static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var close = stat.LastIndexOf(')');
            return close < 0 || close + 2 >= stat.Length || stat[close + 2] is 'Z' or 'X';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return true;
        }
    }
}
