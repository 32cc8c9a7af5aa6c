using System.Text.Json.Serialization;

namespace Threadloom.Sandbox.Kernel;

/// <summary>One request line to kernel.py; <paramref name="Id"/> is fresh and random, and the reply must echo it.</summary>
internal sealed record KernelRequest(
    string Id,
    string Code,
    int MaxOutput,
    int CpuSeconds,
    int MaxProcesses);

/// <summary>
/// One reply line from kernel.py (<c>ready</c> is only set on the greeting). Every field is untrusted: user code runs
/// in the kernel's process and can write any line it likes. The host uses <c>logs</c> only after bounding it, reads
/// <c>limit</c> only from a fixed list, and takes nothing else from it (output files are found by the host's own scan).
/// </summary>
internal sealed record KernelReply(
    bool Ready,
    string? Id,
    string? Logs,
    long Dropped,
    bool Failed,
    string? Limit,
    bool Fatal);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(KernelRequest))]
[JsonSerializable(typeof(KernelReply))]
internal sealed partial class KernelJsonContext : JsonSerializerContext;
