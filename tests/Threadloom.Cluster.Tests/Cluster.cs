using System.ClientModel;
using System.Net.Http.Headers;
using Npgsql;
using OpenAI;
using OpenAI.Assistants;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Threadloom.Cluster.Tests;

/// <summary>
/// Several <c>threadloom.dll</c> processes on loopback sharing one fresh PostgreSQL database (created here, dropped on
/// dispose), with database blobs, so the nodes share nothing but the database. Each node calls the scripted model
/// with its own API key (<c>node-0</c>, <c>node-1</c>, …), so a test sees at the model which node executed a call.
/// </summary>
/// <remarks>
/// The database comes from <c>THREADLOOM_TEST_POSTGRES</c> (set by <c>.ci/run</c>). Without it the tests skip, except
/// with <c>CI=true</c>, where they fail: a skipped cluster suite counts as a failure in CI.
/// </remarks>
public sealed class Cluster : IAsyncDisposable
{
    public const string Variable = "THREADLOOM_TEST_POSTGRES";

    private readonly string _admin;
    private readonly ITestOutputHelper _output;
    private readonly List<ThreadloomProcess?> _nodes;
    private readonly List<string> _dataDirectories;
    private readonly Func<int, IEnumerable<string>> _nodeArguments;
    private int _next;

    private Cluster(string admin, string database, ScriptedModelServer model, ITestOutputHelper output, int count, Func<int, IEnumerable<string>> nodeArguments)
    {
        _admin = admin;
        Database = database;
        ConnectionString = new NpgsqlConnectionStringBuilder(admin) { Database = database, MaxPoolSize = 20 }.ToString();
        Model = model;
        _output = output;
        _nodeArguments = nodeArguments;
        _nodes = [.. Enumerable.Repeat<ThreadloomProcess?>(null, count)];
        _dataDirectories = [.. Enumerable.Range(0, count).Select(_ => ThreadloomProcess.NewDataDirectory())];
    }

    public string Database { get; }

    /// <summary>The nodes' connection string (the test's own database).</summary>
    public string ConnectionString { get; }

    public ScriptedModelServer Model { get; }

    public int Count => _nodes.Count;

    /// <summary>The admin connection string, or a skip (a failure with <c>CI=true</c>) when none is configured.</summary>
    public static string AdminConnectionString()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value)
        {
            return value;
        }
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"CI=true but {Variable} is not set: the cluster tests must run in CI (.ci/run starts a PostgreSQL).");
        }
        Skip.If(true, $"Cluster tests skipped: set {Variable} (`eval \"$(.ci/postgres.sh | tail -1)\"`).");
        return null!;
    }

    /// <summary>The API key node <paramref name="node"/> sends to the model: how the model tells the nodes apart.</summary>
    public static string NodeKey(int node) => $"node-{node}";

    /// <summary>Which node made a model call, from its bearer key; -1 when none matches.</summary>
    public static int NodeOf(ScriptedRequest request) =>
        request.Header("Authorization") is { } auth && auth.StartsWith("Bearer node-", StringComparison.Ordinal)
        && int.TryParse(auth["Bearer node-".Length..], System.Globalization.CultureInfo.InvariantCulture, out var node)
            ? node
            : -1;

    /// <summary>
    /// Creates the database and starts <paramref name="count"/> nodes at once (they migrate under the advisory lock),
    /// each with <paramref name="nodeArguments"/> for its index on top of the common settings.
    /// </summary>
    public static async Task<Cluster> StartAsync(ScriptedModelServer model, ITestOutputHelper output, int count = 3,
        Func<int, IEnumerable<string>>? nodeArguments = null)
    {
        var admin = AdminConnectionString();
        var database = "threadloom_cluster_" + Guid.NewGuid().ToString("N")[..12];
        await ExecuteAsync(admin, $"CREATE DATABASE {database}");
        var cluster = new Cluster(admin, database, model, output, count, nodeArguments ?? (_ => []));
        try
        {
            await Task.WhenAll(Enumerable.Range(0, count).Select(cluster.StartNodeAsync));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    /// <summary>(Re)starts node <paramref name="index"/> on its data folder (so with its node id) and waits until it answers.</summary>
    public async Task StartNodeAsync(int index)
    {
        string[] common =
        [
            "--Storage:Provider", "postgres",
            "--Storage:ConnectionString", ConnectionString,
            "--Storage:Blobs", "database",
            "--Inference:Providers:default:BaseUrl", Model.OpenAIBaseAddress.ToString(),
            "--Inference:Providers:default:ApiKey", NodeKey(index),
            "--Inference:MaxRetries", "0",
            "--Embeddings:Model", "scripted-embedding",
            "--Runs:SweepInterval", "00:00:00.200",
            "--Runs:ShutdownGracePeriod", "00:00:00",
            "--IngestionWorker:SweepInterval", "00:00:00.500",
            // Nodes on one machine need their own sandbox folders and host uids (a sandbox clears its folder at start).
            "--CodeInterpreter:WorkRoot", SandboxRoot(index),
            "--CodeInterpreter:HostUidBase", (1_800_000_000 + (index * 100_000)).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--CodeInterpreter:HostUidCount", "1000",
        ];
        var node = ThreadloomProcess.Start(_dataDirectories[index], [.. common, .. _nodeArguments(index)]);
        _nodes[index] = node;
        await node.WaitHealthyAsync(TimeSpan.FromMinutes(3));
    }

    /// <summary>Node <paramref name="index"/>'s sandbox folder (its session folders are under <c>sessions/</c>).</summary>
    public string SandboxRoot(int index) =>
        Path.Combine(Path.GetTempPath(), "threadloom-cluster-sandbox", Database, index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public ThreadloomProcess Node(int index) => _nodes[index] ?? throw new InvalidOperationException($"Node {index} is not running.");

    /// <summary>SIGKILL: no shutdown code runs on the node.</summary>
    public async Task KillAsync(int index)
    {
        var node = Node(index);
        await node.KillAsync();
        _output.WriteLine($"--- node {index} killed; its output:\n{Tail(node.Output)}");
        await node.DisposeAsync();
        _nodes[index] = null;
    }

    /// <summary>The index of the next running node, round-robin.</summary>
    public int NextIndex()
    {
        for (var i = 0; i < _nodes.Count; i++)
        {
            var index = (int)((uint)Interlocked.Increment(ref _next) % (uint)_nodes.Count);
            if (_nodes[index] is not null)
            {
                return index;
            }
        }
        throw new InvalidOperationException("No node is running.");
    }

    public OpenAIClient OpenAI(int index) =>
        new(new ApiKeyCredential("cluster-key"), new OpenAIClientOptions { Endpoint = new Uri(Node(index).BaseAddress, "v1/"), NetworkTimeout = TimeSpan.FromMinutes(2) });

    public AssistantClient Assistants(int index) => OpenAI(index).GetAssistantClient();

    /// <summary>Raw HTTP to a node's OpenAI routes, for what the SDK does not cover.</summary>
    public HttpClient Http(int index)
    {
        var client = new HttpClient { BaseAddress = new Uri(Node(index).BaseAddress, "v1/"), Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "cluster-key");
        client.DefaultRequestHeaders.Add("OpenAI-Beta", "assistants=v2");
        return client;
    }

    /// <summary>Polls <paramref name="probe"/> on the next nodes round-robin until it returns a value, for at most <paramref name="timeout"/>.</summary>
    public async Task<T> EventuallyAsync<T>(string what, Func<int, Task<T?>> probe, TimeSpan timeout) where T : class
    {
        T? found = null;
        await UntilAsync(what, async () => (found = await probe(NextIndex())) is not null, timeout);
        return found!;
    }

    /// <summary>Polls <paramref name="done"/> until it holds, for at most <paramref name="timeout"/>.</summary>
    public static async Task UntilAsync(string what, Func<Task<bool>> done, TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        while (!await done())
        {
            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout} waiting for {what}.");
            }
            await Task.Delay(100);
        }
    }

    public async Task<T> QueryScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static string Tail(string output) => output.Length <= 20_000 ? output : output[^20_000..];

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < _nodes.Count; i++)
        {
            if (_nodes[i] is { } node)
            {
                await node.DisposeAsync();
                _output.WriteLine($"--- node {i} output:\n{Tail(node.Output)}");
                _nodes[i] = null;
            }
        }
        foreach (var directory in _dataDirectories)
        {
            ThreadloomProcess.DeleteDataDirectory(directory);
        }
        ThreadloomProcess.DeleteDataDirectory(Path.Combine(Path.GetTempPath(), "threadloom-cluster-sandbox", Database));
        NpgsqlConnection.ClearAllPools();
        try
        {
            await ExecuteAsync(_admin, $"DROP DATABASE IF EXISTS {Database} WITH (FORCE)");
        }
        catch (NpgsqlException e)
        {
            _output.WriteLine($"Dropping {Database} failed: {e.Message}");
        }
    }
}
