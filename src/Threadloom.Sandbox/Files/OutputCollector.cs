using System.Globalization;
using Microsoft.Win32.SafeHandles;
using Threadloom.Core.Storage;
using Threadloom.Core.Tools.CodeInterpreter;

namespace Threadloom.Sandbox.Files;

/// <summary>
/// Decides, from the host's own scan of the session folder, what an execution produced, and streams each output to the
/// request's sink within the limits: files per execution, bytes per file, bytes per execution, bytes per session. What
/// is over a limit is reported in one line per limit (never one line per file), and the run goes on.
/// </summary>
internal sealed class OutputCollector(CodeInterpreterOptions options)
{
    private const int MaxNamesListed = 5;

    /// <summary>What the execution produced, and the notices for the logs.</summary>
    public sealed record Collected(IReadOnlyList<SandboxOutputFile> Images, IReadOnlyList<SandboxOutputFile> Files, IReadOnlyList<string> Notices)
    {
        public bool LimitHit => Notices.Count > 0;
    }

    public async Task<Collected> CollectAsync(SessionFolder folder, ISandboxOutputSink? sink, CancellationToken cancellationToken)
    {
        var run = new Budget(options, folder);
        var figures = SafeDirectory.Scan(folder.Figures, 1, options.MaxScanEntries, folder.FiguresStream);
        var images = new List<SandboxOutputFile>();
        foreach (var entry in figures.Files.OrderBy(e => e.Stat.ModifiedNs).ThenBy(e => e.Key, StringComparer.Ordinal))
        {
            if (await CollectOneAsync(folder.Figures, entry, SandboxOutputKind.Image, run, sink, cancellationToken) is { } image)
            {
                images.Add(image);
            }
        }
        if (figures.Files.Count > 0 || figures.SkippedSpecial > 0 || figures.Truncated)
        {
            folder.ClearFigures();
        }

        var (changed, scan) = folder.TakeChanges(options.MaxScanDepth, options.MaxScanEntries);
        var files = new List<SandboxOutputFile>();
        foreach (var entry in changed.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            if (await CollectOneAsync(folder.Data, entry, SandboxOutputKind.File, run, sink, cancellationToken) is { } file)
            {
                files.Add(file);
            }
        }
        if (scan.Truncated || figures.Truncated)
        {
            run.Notices.Add(string.Create(CultureInfo.InvariantCulture,
                $"[/mnt/data holds more than {options.MaxScanEntries} entries; only the first {options.MaxScanEntries} were looked at for new files (CodeInterpreter:MaxScanEntries).]"));
        }
        run.Report();
        folder.ReturnedBytes += run.Bytes;
        return new Collected(images, files, run.Notices);
    }

    private async Task<SandboxOutputFile?> CollectOneAsync(SafeFileHandle root, SafeDirectory.Entry entry, SandboxOutputKind kind, Budget run,
        ISandboxOutputSink? sink, CancellationToken cancellationToken)
    {
        var plain = entry.Segments.Select(s => FileNames.AsPlainName(s)).ToList();
        if (plain.Any(p => p is null))
        {
            run.Refused.Add(entry.Key);
            return null;
        }
        var name = string.Join('/', plain);
        if (run.Count >= options.MaxOutputFilesPerExecution)
        {
            run.OverCount.Add(name);
            return null;
        }
        if (entry.Stat.Size > options.MaxOutputFileBytes)
        {
            run.TooLarge.Add($"{name} ({entry.Stat.Size.ToString(CultureInfo.InvariantCulture)} bytes)");
            return null;
        }
        var room = Math.Min(options.MaxOutputFileBytes, Math.Min(options.MaxOutputTotalBytes - run.Bytes,
            options.MaxOutputSessionBytes - run.SessionBytes - run.Bytes));
        if (entry.Stat.Size > room)
        {
            run.OverTotal.Add(name);
            return null;
        }
        using var handle = SafeDirectory.OpenRegularFile(root, entry.Segments, entry.Stat);
        if (handle is null)
        {
            run.Vanished.Add(name);
            return null;
        }
        if (sink is null)
        {
            run.Count++;
            run.Bytes += entry.Stat.Size;
            return new SandboxOutputFile(name, null, entry.Stat.Size);
        }
        await using var content = new BoundedFileStream(handle, room);
        string id;
        try
        {
            id = await sink.StoreAsync(kind, name, content, room, cancellationToken);
        }
        catch (Exception e) when (e is FileGrewException or BlobTooLargeException)
        {
            run.Vanished.Add(name);
            return null;
        }
        run.Count++;
        run.Bytes += content.BytesRead;
        return new SandboxOutputFile(name, id, content.BytesRead);
    }

    private sealed class Budget(CodeInterpreterOptions options, SessionFolder folder)
    {
        public int Count { get; set; }
        public long Bytes { get; set; }
        public long SessionBytes { get; } = folder.ReturnedBytes;
        public List<string> Refused { get; } = [];
        public List<string> OverCount { get; } = [];
        public List<string> TooLarge { get; } = [];
        public List<string> OverTotal { get; } = [];
        public List<string> Vanished { get; } = [];
        public List<string> Notices { get; } = [];

        public void Report()
        {
            Add(OverCount, $"were not returned: an execution returns at most {options.MaxOutputFilesPerExecution} files (CodeInterpreter:MaxOutputFilesPerExecution)");
            Add(TooLarge, $"were not returned: larger than {options.MaxOutputFileBytes} bytes each (CodeInterpreter:MaxOutputFileBytes)");
            Add(OverTotal, $"were not returned: over the {options.MaxOutputTotalBytes} bytes an execution returns or the {options.MaxOutputSessionBytes} bytes a session returns (CodeInterpreter:MaxOutputTotalBytes, MaxOutputSessionBytes)");
            Add(Refused, "were not returned: their names are not printable UTF-8 (shown escaped)");
            Add(Vanished, "were not returned: they changed, grew or were replaced while being read");
        }

        private void Add(List<string> names, string why)
        {
            if (names.Count == 0)
            {
                return;
            }
            var listed = string.Join(", ", names.Take(MaxNamesListed));
            var more = names.Count > MaxNamesListed ? string.Create(CultureInfo.InvariantCulture, $" and {names.Count - MaxNamesListed} more") : "";
            Notices.Add(string.Create(CultureInfo.InvariantCulture, $"[{names.Count} file(s) ({listed}{more}) {why}.]"));
        }
    }
}

/// <summary>Thrown by <see cref="BoundedFileStream"/> when the file holds more than the bytes allowed.</summary>
internal sealed class FileGrewException(long limit) : IOException($"The file grew past {limit} bytes while it was read.");

/// <summary>Reads an open regular file from offset 0, yielding at most <c>limit</c> bytes; more is an error, never a silent cut.</summary>
internal sealed class BoundedFileStream(SafeFileHandle handle, long limit) : Stream
{
    public long BytesRead { get; private set; }
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = RandomAccess.Read(handle, buffer[..(int)Math.Min(buffer.Length, limit + 1 - BytesRead)], BytesRead);
        return Advance(read);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await RandomAccess.ReadAsync(handle, buffer[..(int)Math.Min(buffer.Length, limit + 1 - BytesRead)], BytesRead, cancellationToken);
        return Advance(read);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Advance(int read)
    {
        BytesRead += read;
        return BytesRead > limit ? throw new FileGrewException(limit) : read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
