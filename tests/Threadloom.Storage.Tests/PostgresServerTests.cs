using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Threadloom.Storage.Postgres;
using Threadloom.Storage.Tests.Contract;
using Threadloom.Testing;

namespace Threadloom.Storage.Tests;

/// <summary>The whole server on <c>Storage:Provider=postgres</c>, and what startup says when pgvector cannot be enabled.</summary>
public sealed class PostgresServerTests
{
    private static string Admin()
    {
        var reason = new PostgresProvider().Unavailable;
        Skip.If(reason is not null, reason);
        return PostgresProvider.ConnectionString!;
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    [SkippableFact]
    public async Task Server_OnPostgres_ServesFilesVectorStoresAndSearch()
    {
        var admin = Admin();
        var database = "threadloom_srv_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync(admin, $"CREATE DATABASE {database}");
        try
        {
            var connectionString = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ToString();
            foreach (var blobs in (string[])["database", "folder"])
            {
                await using var server = await ThreadloomServer.StartAsync(new Dictionary<string, string?>
                {
                    ["Storage:Provider"] = "postgres",
                    ["Storage:ConnectionString"] = connectionString,
                    ["Storage:Blobs"] = blobs,
                });
                using var http = server.CreateClient();
                var text = $"The Contoso cafeteria opens at 7:30 and closes at 15:00. ({blobs})";
                using var form = new MultipartFormDataContent
                {
                    { new ByteArrayContent(Encoding.UTF8.GetBytes(text)), "file", "hours.txt" },
                    { new StringContent("assistants"), "purpose" },
                };
                using var upload = await http.PostAsync("files", form);
                Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
                var fileId = JsonNode.Parse(await upload.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
                Assert.Equal(text, await http.GetStringAsync($"files/{fileId}/content"));

                using var created = await http.PostAsync("vector_stores", new StringContent($$"""{"file_ids":["{{fileId}}"]}""", Encoding.UTF8, "application/json"));
                var storeId = JsonNode.Parse(await created.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
                string status = "";
                for (var i = 0; i < 600 && status != "completed"; i++)
                {
                    await Task.Delay(100);
                    status = JsonNode.Parse(await http.GetStringAsync($"vector_stores/{storeId}"))!["status"]!.GetValue<string>();
                }
                Assert.Equal("completed", status);
                using var search = await http.PostAsync($"vector_stores/{storeId}/search", new StringContent("""{"query":"When does the cafeteria close?"}""", Encoding.UTF8, "application/json"));
                var hits = JsonNode.Parse(await search.Content.ReadAsStringAsync())!["data"]!.AsArray();
                Assert.Equal(fileId, hits[0]!["file_id"]!.GetValue<string>());

                using var thread = await http.PostAsync("threads", new StringContent("""{"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, thread.StatusCode);
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(admin, $"DROP DATABASE {database} WITH (FORCE)");
        }
    }

    [SkippableFact]
    public async Task Migrate_VectorExtensionNotEnabledAndNoPrivilege_SaysHowToFixIt()
    {
        var admin = Admin();
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var (database, role) = ("threadloom_noext_" + suffix, "threadloom_plain_" + suffix);
        await ExecuteAsync(admin, $"CREATE ROLE {role} LOGIN");
        await ExecuteAsync(admin, $"CREATE DATABASE {database} OWNER {role}");
        try
        {
            var connectionString = new NpgsqlConnectionStringBuilder(admin) { Database = database, Username = role, Pooling = false }.ToString();
            await using var db = new PostgresDatabase(connectionString);
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => new PostgresMigrator(db, NullLogger<PostgresMigrator>.Instance).MigrateAsync(CancellationToken.None));
            Assert.Contains("CREATE EXTENSION vector", error.Message, StringComparison.Ordinal);
            Assert.Contains("superuser", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            await ExecuteAsync(admin, $"DROP DATABASE {database} WITH (FORCE)");
            await ExecuteAsync(admin, $"DROP ROLE {role}");
        }
    }
}
