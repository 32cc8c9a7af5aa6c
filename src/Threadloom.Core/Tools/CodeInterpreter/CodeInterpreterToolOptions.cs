using System.ComponentModel.DataAnnotations;

namespace Threadloom.Core.Tools.CodeInterpreter;

/// <summary>
/// Settings of the <c>code_interpreter</c> tool itself (section <c>CodeInterpreter</c>, shared with the sandbox's
/// options): how much of an execution's output the model is sent.
/// </summary>
public sealed class CodeInterpreterToolOptions
{
    public const string SectionName = "CodeInterpreter";

    /// <summary>
    /// Most characters of tool output sent to the model per execution, whatever the sandbox wrote: longer logs keep their
    /// head and tail with a notice in between, and the list of written files is shortened first.
    /// </summary>
    [Range(1_000, 1_000_000)] public int MaxModelOutputChars { get; set; } = 20_000;
}
