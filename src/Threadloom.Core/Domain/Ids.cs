using System.Security.Cryptography;

namespace Threadloom.Core.Domain;

/// <summary>The OpenAI id prefixes, defined once.</summary>
public static class Ids
{
    public const string Assistant = "asst_";
    public const string Thread = "thread_";
    public const string Message = "msg_";
    public const string Run = "run_";
    public const string Step = "step_";
    public const string ToolCall = "call_";
    public const string File = "file-";
    public const string VectorStore = "vs_";
    public const string FileBatch = "vsfb_";
    public const string Upload = "upload_";
    public const string UploadPart = "part_";
    public const string Project = "proj_";
}

/// <summary>Creates object ids; injected so tests can make them predictable.</summary>
public interface IIdGenerator
{
    string NewId(string prefix);
}

public sealed class RandomIdGenerator : IIdGenerator
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public string NewId(string prefix) => string.Create(prefix.Length + 24, prefix, static (span, p) =>
    {
        p.AsSpan().CopyTo(span);
        RandomNumberGenerator.GetItems(Alphabet, span[p.Length..]);
    });
}
