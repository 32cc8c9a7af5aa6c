using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Threadloom.Server.Tests;

/// <summary>A thin JSON client for asserting on the exact wire format.</summary>
public sealed class ApiClient(HttpClient http)
{
    public HttpClient Http => http;

    public async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public Task<(HttpStatusCode Status, JsonNode? Body)> GetAsync(string path) => SendAsync(HttpMethod.Get, path);

    public Task<(HttpStatusCode Status, JsonNode? Body)> PostAsync(string path, string? json = "{}") => SendAsync(HttpMethod.Post, path, json);

    public Task<(HttpStatusCode Status, JsonNode? Body)> DeleteAsync(string path) => SendAsync(HttpMethod.Delete, path);

    /// <summary>POSTs and asserts 200, returning the body.</summary>
    public async Task<JsonNode> CreateAsync(string path, string json)
    {
        var (status, body) = await PostAsync(path, json);
        Assert.True(status == HttpStatusCode.OK, $"POST {path} gave {(int)status}: {body?.ToJsonString()}");
        return body!;
    }

    public async Task<JsonNode> UploadAsync(string fileName, byte[] content, string? purpose = "assistants")
    {
        using var form = new MultipartFormDataContent();
        if (purpose is not null)
        {
            form.Add(new StringContent(purpose), "purpose");
        }
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        using var response = await http.PostAsync("files", form);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!;
    }
}

public static class ErrorAssert
{
    /// <summary>Asserts a 4xx in the OpenAI envelope, with <c>param</c> when one is given.</summary>
    public static void IsClientError((HttpStatusCode Status, JsonNode? Body) response, HttpStatusCode expected, string? param = null)
    {
        Assert.True(response.Status == expected, $"expected {(int)expected}, got {(int)response.Status}: {response.Body?.ToJsonString()}");
        var error = response.Body?["error"];
        Assert.NotNull(error);
        Assert.False(string.IsNullOrEmpty(error["message"]?.GetValue<string>()));
        Assert.NotNull(error["type"]);
        Assert.True(error.AsObject().ContainsKey("param") && error.AsObject().ContainsKey("code"), "the envelope has param and code");
        if (param is not null)
        {
            Assert.Equal(param, error["param"]?.GetValue<string>());
        }
    }
}
