using System.Text.Json;
using Microsoft.Extensions.AI;
using Threadloom.Core.Inference;
using Threadloom.Core.Runs.Truncation;

namespace Threadloom.Core.Tests.Truncation;

public sealed class TruncationPlannerTests
{
    private static readonly TokenCounter Counter = TokenCounter.ForEncoding("o200k_base");

    private static ChatMessage User(string text) => new(ChatRole.User, text);

    private static ChatMessage Assistant(string text) => new(ChatRole.Assistant, text);

    /// <summary>A message of roughly <paramref name="words"/> tokens ("word " is one o200k token).</summary>
    private static ChatMessage UserOf(int words, string tag) => User(tag + string.Concat(Enumerable.Repeat(" word", words)));

    [Fact]
    public void TokenCounter_CountsKnownText()
    {
        Assert.Equal(0, Counter.CountText(""));
        Assert.Equal(2, Counter.CountText("Hello world"));
        Assert.Equal(Counter.CountText("Hello world") + TokenCounter.TokensPerMessage + Counter.CountText("user"), Counter.CountMessage(User("Hello world")));
        Assert.Same(Counter, TokenCounter.ForEncoding("O200K_BASE"));
        Assert.NotEqual(Counter.CountText("数据科学家"), TokenCounter.ForEncoding("cl100k_base").CountText("数据科学家"));
    }

    [Fact]
    public void TokenCounter_UnsupportedEncoding_Throws()
    {
        Assert.Throws<ArgumentException>(() => TokenCounter.ForEncoding("r50k_base"));
    }

    [Fact]
    public void TokenCounter_CountsToolCallsResultsAndTools()
    {
        var call = ModelMessages.AssistantToolCalls([new ModelToolCall("call_1", "get_stock_price", "{\"symbol\":\"MSFT\"}")]);
        var result = ModelMessages.ToolResult("call_1", "four hundred and twenty dollars");
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"symbol":{"type":"string"}}}""");

        Assert.True(Counter.CountMessage(call) > TokenCounter.TokensPerMessage + TokenCounter.TokensPerToolCall);
        Assert.True(Counter.CountMessage(result) >= Counter.CountText("four hundred and twenty dollars") + TokenCounter.TokensPerMessage);
        var withSchema = Counter.CountTools([new ModelTool("get_stock_price", "Gets a price", schema.RootElement, null)]);
        var without = Counter.CountTools([new ModelTool("get_stock_price", "Gets a price", null, null)]);
        Assert.Equal(Counter.CountText(schema.RootElement.GetRawText()), withSchema - without);
    }

    [Fact]
    public void Auto_EverythingFits_KeepsAllMessages()
    {
        var messages = new[] { User("one"), Assistant("two"), User("three") };

        var result = TruncationPlanner.Plan(new TruncationRequest(messages, PrefixTokens: 50, ContextWindow: 8000), Counter);

        Assert.True(result.Fits);
        Assert.Null(result.IncompleteReason);
        Assert.Equal(messages, result.Messages);
        Assert.Equal(0, result.DroppedMessages);
        Assert.Equal(50 + Counter.CountMessages(messages), result.PromptTokens);
    }

    [Fact]
    public void Auto_TooLong_DropsOldestUntilItFits()
    {
        var messages = Enumerable.Range(0, 20).Select(i => UserOf(100, $"m{i}")).ToList();
        var perMessage = Counter.CountMessage(messages[0]);
        // Window 2000 with no max_completion_tokens reserves a quarter (500): 1500 for the prompt.
        var result = TruncationPlanner.Plan(new TruncationRequest(messages, PrefixTokens: 200, ContextWindow: 2000), Counter);

        var expectedKept = (1500 - 200 - TokenCounter.ReplyPrimingTokens) / perMessage;
        Assert.True(result.Fits);
        Assert.Equal(expectedKept, result.Messages.Count);
        Assert.Equal(messages.TakeLast(expectedKept), result.Messages);
        Assert.InRange(expectedKept, 2, 19);
        Assert.Equal(20 - expectedKept, result.DroppedMessages);
        Assert.True(result.PromptTokens <= result.PromptBudget);
        Assert.Equal(1500, result.PromptBudget);
    }

    [Fact]
    public void Auto_MaxPromptTokensAndCompletionBudget_BothLimit()
    {
        var messages = Enumerable.Range(0, 10).Select(i => UserOf(100, $"m{i}")).ToList();

        var byMaxPrompt = TruncationPlanner.Plan(new TruncationRequest(messages, 0, 128_000, MaxPromptTokens: 400), Counter);
        var byCompletion = TruncationPlanner.Plan(new TruncationRequest(messages, 0, 1000, MaxCompletionTokens: 600), Counter);

        Assert.Equal(400, byMaxPrompt.PromptBudget);
        Assert.Equal(3, byMaxPrompt.Messages.Count);
        Assert.Equal(400, byCompletion.PromptBudget);
        Assert.Equal(3, byCompletion.Messages.Count);
    }

    [Fact]
    public void LastMessages_KeepsNewestN()
    {
        var messages = Enumerable.Range(0, 6).Select(i => User($"m{i}")).ToList();

        var result = TruncationPlanner.Plan(
            new TruncationRequest(messages, 10, 8000, Type: TruncationType.LastMessages, LastMessages: 2), Counter);

        Assert.True(result.Fits);
        Assert.Equal(messages.TakeLast(2), result.Messages);
        Assert.Equal(4, result.DroppedMessages);
    }

    [Fact]
    public void LastMessages_StillFitsTheBudget()
    {
        var messages = Enumerable.Range(0, 6).Select(i => UserOf(100, $"m{i}")).ToList();

        var result = TruncationPlanner.Plan(
            new TruncationRequest(messages, 0, 128_000, MaxPromptTokens: 300, Type: TruncationType.LastMessages, LastMessages: 5), Counter);

        Assert.True(result.Fits);
        Assert.Equal(messages.TakeLast(2), result.Messages);
    }

    [Fact]
    public void NewestMessageTooLarge_DoesNotFit()
    {
        var messages = new[] { User("small"), UserOf(1000, "huge") };

        var result = TruncationPlanner.Plan(new TruncationRequest(messages, 0, 128_000, MaxPromptTokens: 500), Counter);

        Assert.False(result.Fits);
        Assert.Equal("max_prompt_tokens", result.IncompleteReason);
        Assert.Empty(result.Messages);
    }

    [Fact]
    public void PrefixAloneTooLarge_DoesNotFit()
    {
        var result = TruncationPlanner.Plan(new TruncationRequest([User("hi")], PrefixTokens: 600, ContextWindow: 128_000, MaxPromptTokens: 500), Counter);

        Assert.False(result.Fits);
        Assert.Equal("max_prompt_tokens", result.IncompleteReason);
    }

    [Fact]
    public void ToolResults_AreKeptOrDroppedWithTheirCall()
    {
        var call = ModelMessages.AssistantToolCalls([new ModelToolCall("call_1", "lookup", "{\"q\":\"x\"}")]);
        var output = ModelMessages.ToolResult("call_1", string.Concat(Enumerable.Repeat(" word", 200)));
        var messages = new List<ChatMessage> { UserOf(50, "old"), User("question"), call, output };
        var toolGroup = Counter.CountMessage(call) + Counter.CountMessage(output);

        // Room for the call and its result, not for the question before them.
        var tight = TruncationPlanner.Plan(new TruncationRequest(messages, 0, 128_000, MaxPromptTokens: toolGroup + TokenCounter.ReplyPrimingTokens + 2), Counter);
        // Room for the result alone but not its call: nothing may be sent.
        var tooTight = TruncationPlanner.Plan(new TruncationRequest(messages, 0, 128_000, MaxPromptTokens: Counter.CountMessage(output) + TokenCounter.ReplyPrimingTokens), Counter);
        // last_messages: 1 counts the call and its results as one.
        var lastOne = TruncationPlanner.Plan(new TruncationRequest(messages, 0, 128_000, Type: TruncationType.LastMessages, LastMessages: 1), Counter);

        Assert.Equal([call, output], tight.Messages);
        Assert.False(tooTight.Fits);
        Assert.Equal([call, output], lastOne.Messages);
    }

    [Fact]
    public void NoMessages_FitsWhenThePrefixFits()
    {
        var result = TruncationPlanner.Plan(new TruncationRequest([], 100, 8000), Counter);

        Assert.True(result.Fits);
        Assert.Empty(result.Messages);
    }
}
