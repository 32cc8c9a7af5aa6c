using System.Net;
using System.Text.Json.Nodes;

namespace Threadloom.Server.Tests;

/// <summary>A few hundred randomly mutated valid bodies: none may produce a 5xx.</summary>
public sealed class FuzzTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly JsonNode?[] Replacements =
        [null, 0, -1, 1e308, "", "x", new string('z', 70_000), true, new JsonArray(), new JsonObject(), new JsonArray(1, "a", null), new JsonObject { ["type"] = "function" }];

    [Fact]
    public async Task MutatedBodies_NeverGive5xx()
    {
        var api = fixture.Api;
        var tid = (await api.CreateAsync("threads", "{}"))["id"]!.GetValue<string>();
        var aid = (await api.CreateAsync("assistants", """{"model":"gpt-4o"}"""))["id"]!.GetValue<string>();
        (string Path, string Body)[] seeds =
        [
            ("assistants", """{"model":"gpt-4o","name":"n","instructions":"i","tools":[{"type":"code_interpreter"},{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_resources":{"code_interpreter":{"file_ids":[]}},"metadata":{"a":"b"},"temperature":1,"top_p":1,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{}}}}"""),
            ($"assistants/{aid}", """{"name":"n","metadata":{"a":"b"},"tools":[{"type":"file_search","file_search":{"max_num_results":5}}]}"""),
            ("threads", """{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}],"attachments":[],"metadata":{}}],"metadata":{"k":"v"}}"""),
            ($"threads/{tid}", """{"metadata":{"k":"v"},"tool_resources":{"code_interpreter":{"file_ids":[]}}}"""),
            ($"threads/{tid}/messages", """{"role":"user","content":"hello","metadata":{"k":"v"}}"""),
        ];
        var random = new Random(1234);
        var failures = new List<string>();
        for (var i = 0; i < 300; i++)
        {
            var (path, seed) = seeds[i % seeds.Length];
            var body = Mutate(JsonNode.Parse(seed)!, random).ToJsonString();
            if (random.Next(10) == 0)
            {
                body = body[..random.Next(body.Length)];
            }
            var (status, _) = await api.PostAsync(path, body);
            if ((int)status >= 500)
            {
                failures.Add($"{(int)status} POST {path} {body[..Math.Min(300, body.Length)]}");
            }
            Assert.True(status is HttpStatusCode.OK or HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{(int)status} for {body}");
        }
        Assert.Empty(failures);
    }

    private static JsonNode Mutate(JsonNode root, Random random)
    {
        var nodes = new List<JsonNode>();
        Collect(root, nodes);
        for (var n = random.Next(1, 4); n > 0; n--)
        {
            var target = nodes[random.Next(nodes.Count)];
            var replacement = Replacements[random.Next(Replacements.Length)]?.DeepClone();
            switch (target.Parent)
            {
                case JsonObject obj:
                    var key = obj.First(p => ReferenceEquals(p.Value, target)).Key;
                    if (random.Next(4) == 0)
                    {
                        obj.Remove(key);
                    }
                    else
                    {
                        obj[key] = replacement;
                    }
                    break;
                case JsonArray array:
                    array[array.IndexOf(target)] = replacement;
                    break;
                default:
                    if (target is JsonObject rootObject)
                    {
                        rootObject["unexpected_" + random.Next(100)] = replacement;
                    }
                    break;
            }
            nodes.Clear();
            Collect(root, nodes);
        }
        return root;
    }

    private static void Collect(JsonNode node, List<JsonNode> into)
    {
        into.Add(node);
        IEnumerable<JsonNode?> children = node switch
        {
            JsonObject obj => obj.Select(p => p.Value),
            JsonArray array => array,
            _ => [],
        };
        foreach (var child in children)
        {
            if (child is not null)
            {
                Collect(child, into);
            }
        }
    }
}
