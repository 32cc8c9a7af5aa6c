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
}
