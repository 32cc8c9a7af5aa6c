using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Threadloom.Core.Ingestion;

/// <summary>
/// The child side of process-isolated extraction (<c>threadloom extract-worker …</c>, ADR 0004): reads one file from
/// stdin, extracts it under the budget given on the command line, writes one JSON reply to stdout and exits.
/// </summary>
/// <remarks>
/// Design notes: the parent starts this process with a cleared environment, a managed-heap cap
/// (<c>DOTNET_GCHeapHardLimit</c>) and a wall-clock deadline. Here the process lowers its own priority (nice 10), so
/// a parser spinning on a hostile page yields the cores to the server's requests, sets RLIMIT_CPU as a backstop, and
/// runs a watchdog that exits with <see cref="ExitCpu"/> once the CPU budget is spent. Exit codes are the protocol's
/// failure channel: the parent never trusts more than the reply's shape.
/// </remarks>
public static partial class ExtractionWorkerProcess
{
    public const string Command = "extract-worker";
    public const int ExitOk = 0;
    public const int ExitMemory = 3;
    public const int ExitCpu = 4;
    public const int ExitUsage = 64;

    /// <summary>The arguments for one extraction (after <see cref="Command"/>).</summary>
    public static IReadOnlyList<string> Arguments(string extension, ExtractionBudget budget, long maxFileBytes, TimeSpan cpu) =>
    [
        extension,
        budget.MaxChars.ToString(CultureInfo.InvariantCulture),
        budget.MaxPages.ToString(CultureInfo.InvariantCulture),
        budget.MaxNestingDepth.ToString(CultureInfo.InvariantCulture),
        budget.MaxUncompressedBytes.ToString(CultureInfo.InvariantCulture),
        budget.MaxCompressionRatio.ToString(CultureInfo.InvariantCulture),
        maxFileBytes.ToString(CultureInfo.InvariantCulture),
        ((long)cpu.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 8)
        {
            await Console.Error.WriteLineAsync("usage: threadloom extract-worker EXT MAXCHARS MAXPAGES MAXDEPTH MAXUNCOMPRESSED MAXRATIO MAXFILEBYTES CPUMS");
            return ExitUsage;
        }
        var extension = args[0];
        var budget = new ExtractionBudget(int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture),
            int.Parse(args[3], CultureInfo.InvariantCulture), long.Parse(args[4], CultureInfo.InvariantCulture), int.Parse(args[5], CultureInfo.InvariantCulture));
        var maxFileBytes = long.Parse(args[6], CultureInfo.InvariantCulture);
        var cpu = TimeSpan.FromMilliseconds(long.Parse(args[7], CultureInfo.InvariantCulture));
        Confine(cpu);
        // Parsers catch their own exceptions, OutOfMemoryException included (PdfPig then reports an empty page): any
        // OOM seen at all means the heap cap was hit, and the file is failed for memory whatever the parser returned.
        var outOfMemory = false;
        AppDomain.CurrentDomain.FirstChanceException += (_, e) =>
        {
            if (e.Exception is OutOfMemoryException)
            {
                outOfMemory = true;
            }
        };

        try
        {
            byte[] bytes;
            await using (var input = Console.OpenStandardInput())
            {
                bytes = await TextExtractor.ReadCappedAsync(input, maxFileBytes, CancellationToken.None) ?? [];
            }
            var result = TextExtractor.Extract("file" + extension, bytes, budget);
            if (outOfMemory)
            {
                return ExitMemory;
            }
            await using var output = Console.OpenStandardOutput();
            await WriteReplyAsync(output, result);
            return ExitOk;
        }
        catch (OutOfMemoryException)
        {
            return ExitMemory;
        }
    }

    /// <summary>Writes <paramref name="result"/> as the reply the parent reads (<see cref="ReadReply"/>).</summary>
    internal static async Task WriteReplyAsync(Stream output, ExtractionResult result)
    {
        await using var json = new Utf8JsonWriter(output);
        json.WriteStartObject();
        if (result.Error is { } error)
        {
            json.WriteStartObject("error");
            json.WriteString("code", error.Code);
            json.WriteString("message", error.Message);
            json.WriteEndObject();
        }
        else
        {
            var document = result.Document!;
            json.WriteString("text", document.Text);
            json.WriteString("title", document.Title);
            json.WriteStartArray("pages");
            foreach (var page in document.Pages)
            {
                json.WriteStartArray();
                json.WriteNumberValue(page.Number);
                json.WriteNumberValue(page.StartChar);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteStartArray("headings");
            foreach (var heading in document.Headings)
            {
                json.WriteStartArray();
                json.WriteNumberValue(heading.StartChar);
                json.WriteNumberValue(heading.Level);
                json.WriteStringValue(heading.Text);
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        json.WriteEndObject();
        await json.FlushAsync();
    }

    /// <summary>Parses a reply; a reply of the wrong shape (or offsets outside the text) is rejected with <see cref="FormatException"/>.</summary>
    internal static ExtractionResult ReadReply(ReadOnlyMemory<byte> reply)
    {
        using var json = JsonDocument.Parse(reply, new JsonDocumentOptions { MaxDepth = 8 });
        var root = json.RootElement;
        if (root.TryGetProperty("error", out var error))
        {
            var code = error.GetProperty("code").GetString();
            if (code is not (IngestionErrorCodes.InvalidFile or IngestionErrorCodes.UnsupportedFile or IngestionErrorCodes.ServerError))
            {
                throw new FormatException("unknown error code");
            }
            return ExtractionResult.Failure(new IngestionError(code, error.GetProperty("message").GetString() ?? ""));
        }
        var text = root.GetProperty("text").GetString() ?? throw new FormatException("no text");
        var title = root.GetProperty("title").GetString();
        var pages = new List<DocumentPage>();
        foreach (var page in root.GetProperty("pages").EnumerateArray())
        {
            pages.Add(new DocumentPage(page[0].GetInt32(), Offset(page[1].GetInt32(), text)));
        }
        var headings = new List<DocumentHeading>();
        foreach (var heading in root.GetProperty("headings").EnumerateArray())
        {
            headings.Add(new DocumentHeading(Offset(heading[0].GetInt32(), text), heading[1].GetInt32(), heading[2].GetString() ?? ""));
        }
        return ExtractionResult.Success(new ExtractedDocument(text, title, pages, headings));
    }

    private static int Offset(int offset, string text) => offset >= 0 && offset <= text.Length ? offset : throw new FormatException("offset outside the text");

    private static void Confine(TimeSpan cpu)
    {
        if (OperatingSystem.IsLinux())
        {
            _ = SetPriority(0, 0, 10); // PRIO_PROCESS, this process: requests first
            var soft = (ulong)Math.Ceiling(cpu.TotalSeconds) + 2;
            var limit = new RLimit { Current = soft, Maximum = soft + 2 };
            _ = SetRLimit(0, ref limit); // RLIMIT_CPU: SIGXCPU past the soft limit, SIGKILL past the hard one
        }
        var self = Process.GetCurrentProcess();
        var watchdog = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(50);
                self.Refresh();
                if (self.TotalProcessorTime > cpu)
                {
                    Environment.Exit(ExitCpu);
                }
            }
        })
        {
            IsBackground = true,
            Name = "extract-worker cpu watchdog",
            Priority = ThreadPriority.Highest,
        };
        watchdog.Start();
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

#pragma warning disable SYSLIB1054 // blittable signatures; LibraryImport would need unsafe code in Core
    [DllImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int priority);

    [DllImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static extern int SetRLimit(int resource, ref RLimit limit);
#pragma warning restore SYSLIB1054
}
