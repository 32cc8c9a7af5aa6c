using System.Threading.Channels;

namespace Threadloom.Sandbox.Kernel;

/// <summary>
/// The host's end of the kernel's reply pipe, read as untrusted bytes: one pump reads the pipe in chunks, scans each
/// byte once for the line end (linear), and queues at most one complete line. A line longer than the cap, or a second
/// line nobody asked for, is a protocol violation: the pump stops reading (the writer then blocks on a full pipe, at no
/// cost to the host) and the session's kernel is discarded.
/// </summary>
internal sealed class KernelChannel
{
    private readonly Stream _stream;
    private readonly int _maxLineBytes;
    private readonly Channel<byte[]> _lines = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(1)
    {
        SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
    });
    private volatile string? _violation;
    private long _pendingBytes;

    public KernelChannel(Stream stream, int maxLineBytes)
    {
        _stream = stream;
        _maxLineBytes = maxLineBytes;
        _ = Task.Run(PumpAsync);
    }

    /// <summary>Why the channel stopped trusting the kernel, or null.</summary>
    public string? Violation => _violation;

    /// <summary>True when the kernel wrote something that no request asked for (a queued line or a partial one).</summary>
    public bool HasUnexpectedOutput => _violation is not null || _lines.Reader.Count > 0 || Interlocked.Read(ref _pendingBytes) > 0;

    /// <summary>The next complete line (without its newline); null at the end of the stream or after a violation.</summary>
    public async Task<byte[]?> ReadLineAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _lines.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[64 << 10];
        var line = new MemoryStream();
        try
        {
            while (true)
            {
                var read = await _stream.ReadAsync(buffer);
                if (read == 0)
                {
                    return;
                }
                var chunk = buffer.AsMemory(0, read);
                while (!chunk.IsEmpty)
                {
                    var end = chunk.Span.IndexOf((byte)'\n');
                    var part = end < 0 ? chunk : chunk[..end];
                    if (line.Length + part.Length > _maxLineBytes)
                    {
                        Stop($"the kernel sent a line longer than {_maxLineBytes} bytes");
                        return;
                    }
                    line.Write(part.Span);
                    Interlocked.Exchange(ref _pendingBytes, line.Length);
                    if (end < 0)
                    {
                        break;
                    }
                    chunk = chunk[(end + 1)..];
                    var complete = line.ToArray();
                    line.SetLength(0);
                    Interlocked.Exchange(ref _pendingBytes, 0);
                    if (!_lines.Writer.TryWrite(complete))
                    {
                        Stop("the kernel sent more replies than it was asked for");
                        return;
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            _lines.Writer.TryComplete();
        }
    }

    private void Stop(string reason)
    {
        _violation ??= reason;
        _lines.Writer.TryComplete();
    }
}
