using System.Text;
using Threadloom.Sandbox.Files;
using Threadloom.Sandbox.Kernel;

namespace Threadloom.Sandbox.Tests;

/// <summary>The host-side pieces that read what the sandbox wrote: names, logs and the reply channel.</summary>
public sealed class UntrustedOutputTests
{
    [Theory]
    [InlineData(new byte[] { (byte)'a', (byte)'.', (byte)'t' }, "a.t")]
    [InlineData(new byte[] { (byte)'a', 0x0A, (byte)'S' }, @"a\x0aS")]
    [InlineData(new byte[] { 0xFF, 0xFE }, @"\xff\xfe")]
    [InlineData(new byte[] { (byte)'\\', (byte)'x', (byte)'4', (byte)'1' }, @"\\x41")]
    [InlineData(new byte[] { 0xC3, 0xA9 }, "é")]
    public void FileNames_Escape_IsPrintableAndInjective(byte[] name, string expected)
    {
        Assert.Equal(expected, FileNames.Escape(name));
        Assert.DoesNotContain('\n', FileNames.Escape(name));
    }

    [Fact]
    public void KernelLogs_Bound_CutsToTheByteLimitOnACharacterBoundary()
    {
        var (text, cut) = KernelLogs.Bound(new string('é', 100_000), 1001);

        Assert.Equal(500, text.Length);
        Assert.Equal(200_000 - 1000, cut);
        Assert.Equal(("short", 0L), KernelLogs.Bound("short", 1000));
    }

    [Fact]
    public async Task KernelChannel_LineOverTheCap_IsAViolation_NotBuffered()
    {
        var channel = new KernelChannel(new MemoryStream(Encoding.ASCII.GetBytes(new string('x', 10_000) + "\n")), 1000);

        Assert.Null(await channel.ReadLineAsync(CancellationToken.None));
        Assert.Contains("longer than 1000", channel.Violation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KernelChannel_TwoRepliesForOneRequest_IsAViolation()
    {
        var channel = new KernelChannel(new MemoryStream(Encoding.ASCII.GetBytes("{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n")), 1000);

        Assert.Equal("{\"a\":1}", Encoding.ASCII.GetString((await channel.ReadLineAsync(CancellationToken.None))!));
        Assert.True(channel.HasUnexpectedOutput);
    }
}
