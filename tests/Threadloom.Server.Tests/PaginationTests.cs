namespace Threadloom.Server.Tests;

public sealed class PaginationTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private readonly ApiClient _api = fixture.Api;

    [Theory]
    [InlineData("asc")]
    [InlineData("desc")]
    public async Task ListMessages_45InOneSecond_WalksWithoutGapsOrRepeats(string order)
    {
        var tid = (await _api.CreateAsync("threads", "{}"))["id"]!.GetValue<string>();
        var created = new List<string>();
        for (var i = 0; i < 45; i++)
        {
            created.Add((await _api.CreateAsync($"threads/{tid}/messages", $$"""{"role":"user","content":"m{{i}}"}"""))["id"]!.GetValue<string>());
        }
        var expected = order == "asc" ? created : Enumerable.Reverse(created).ToList();

        var seen = new List<string>();
        string? after = null;
        while (true)
        {
            var page = (await _api.GetAsync($"threads/{tid}/messages?limit=20&order={order}" + (after is null ? "" : $"&after={after}"))).Body!;
            var ids = page["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).ToList();
            seen.AddRange(ids);
            Assert.Equal(ids.FirstOrDefault(), page["first_id"]?.GetValue<string>());
            Assert.Equal(ids.LastOrDefault(), page["last_id"]?.GetValue<string>());
            if (!page["has_more"]!.GetValue<bool>())
            {
                break;
            }
            after = ids[^1];
        }
        Assert.Equal(expected, seen);

        // 'before' the 25th item gives the 20 items just before it, in the same order.
        var before = (await _api.GetAsync($"threads/{tid}/messages?limit=20&order={order}&before={expected[24]}")).Body!;
        Assert.Equal(expected.Skip(4).Take(20), before["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));
        Assert.True(before["has_more"]!.GetValue<bool>());
    }

    [Fact]
    public async Task EmptyList_HasNullCursors()
    {
        var tid = (await _api.CreateAsync("threads", "{}"))["id"]!.GetValue<string>();
        var page = (await _api.GetAsync($"threads/{tid}/messages")).Body!;
        Assert.Empty(page["data"]!.AsArray());
        Assert.Null(page["first_id"]);
        Assert.Null(page["last_id"]);
        Assert.False(page["has_more"]!.GetValue<bool>());
    }
}
