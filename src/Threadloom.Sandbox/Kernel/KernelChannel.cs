using System.Runtime.InteropServices;

namespace Threadloom.Sandbox.Kernel;

/// <summary>
/// The host's end of the kernel's reply pipe, read as untrusted bytes: chunks go into one buffer capped at the line
/// limit, and each byte is scanned once for the line end (linear). A line longer than the cap is a protocol violation
/// (reading stops, the writer blocks on a full pipe at no cost to the host, and the kernel is discarded). Anything
/// the kernel wrote beyond the one reply asked for, whether already buffered or still waiting in the pipe (checked
/// with a zero-timeout <c>poll</c>), is unexpected output and discards the kernel too.
/// </summary>
/// <remarks>Design notes: the read runs in the caller's own flow, not in a pump task, so a warm execution pays no
/// extra thread hop. Cancellation is the caller's kill of the kernel, which ends the read with end-of-stream.</remarks>
internal sealed partial class KernelChannel(Stream stream, int maxLineBytes, SafeHandle? pollable = null)
{
    private byte[] _buffer = new byte[Math.Min(64 << 10, maxLineBytes + 1)];
    private int _count;
    private int _scanned;
    private string? _violation;

    /// <summary>Why the channel stopped trusting the kernel, or null.</summary>
    public string? Violation => _violation;

    /// <summary>True when the kernel wrote something that no request asked for (buffered, or waiting in the pipe).</summary>
    public bool HasUnexpectedOutput => _violation is not null || _count > 0 || HasPendingInput();

    /// <summary>The next complete line (without its newline); null at the end of the stream or after a violation.</summary>
    public async Task<byte[]?> ReadLineAsync(CancellationToken cancellationToken)
    {
        if (_violation is not null)
        {
            return null;
        }
        while (true)
        {
            var end = _buffer.AsSpan(_scanned, _count - _scanned).IndexOf((byte)'\n');
            if (end >= 0)
            {
                end += _scanned;
                var line = _buffer.AsSpan(0, end).ToArray();
                _count -= end + 1;
                _buffer.AsSpan(end + 1, _count).CopyTo(_buffer);
                _scanned = 0;
                return line;
            }
            _scanned = _count;
            if (_count > maxLineBytes)
            {
                _violation = $"the kernel sent a line longer than {maxLineBytes} bytes";
                return null;
            }
            if (_count == _buffer.Length)
            {
                Array.Resize(ref _buffer, (int)Math.Min((long)_buffer.Length * 2, maxLineBytes + 1L));
            }
            int read;
            try
            {
                read = await stream.ReadAsync(_buffer.AsMemory(_count), cancellationToken);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                return null;
            }
            if (read == 0)
            {
                return null;
            }
            _count += read;
        }
    }

    private bool HasPendingInput()
    {
        if (pollable is null || pollable.IsInvalid || pollable.IsClosed)
        {
            return false;
        }
        var entry = new PollFd { Fd = (int)pollable.DangerousGetHandle(), Events = 1 };
        return Poll(ref entry, 1, 0) > 0 && entry.Revents != 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll")]
    private static partial int Poll(ref PollFd fds, nuint count, int timeout);
}
