using System.Text.Json.Serialization;

namespace Threadloom.Sandbox;

/// <summary>One request line to kernel.py.</summary>
internal sealed record KernelRequest(
    string Code,
    int MaxOutput,
    int CpuSeconds,
    int MaxProcesses,
    long MaxFile,
    long MaxTotal);

/// <summary>One reply line from kernel.py; <c>ready</c> is only set on the greeting.</summary>
internal sealed record KernelReply(
    bool Ready,
    string? Logs,
    long Dropped,
    bool Failed,
    string? Limit,
    IReadOnlyList<byte[]>? Images,
    IReadOnlyList<KernelFile>? Files,
    bool Fatal);

internal sealed record KernelFile(string Path, byte[] Content);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(KernelRequest))]
[JsonSerializable(typeof(KernelReply))]
internal sealed partial class KernelJsonContext : JsonSerializerContext;
