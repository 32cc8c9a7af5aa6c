namespace Threadloom.Core.Workers;

/// <summary>
/// Who holds a lease: a node, stable across restarts, and this start of it (an instance). Stored as
/// <c>{NodeId}/{InstanceId}</c> in <c>locked_by</c> columns.
/// </summary>
/// <remarks>
/// Design notes (issue #9 §5): a node id is exclusive while its process lives (the host takes it under a file lock
/// in the data folder, or it is configured per node), so a lease that names this node but another instance can only
/// come from a previous life of the node, which is dead. Its runs are ended at startup instead of waiting for the
/// lease to lapse.
/// </remarks>
public sealed record LeaseHolder
{
    public LeaseHolder(string nodeId, string instanceId)
    {
        if (string.IsNullOrEmpty(nodeId) || nodeId.Contains('/', StringComparison.Ordinal) || nodeId.Length > 200)
        {
            throw new ArgumentException("A node id is 1 to 200 characters without '/'.", nameof(nodeId));
        }
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        NodeId = nodeId;
        InstanceId = instanceId;
    }

    public string NodeId { get; }

    public string InstanceId { get; }

    /// <summary>The value written to <c>locked_by</c>.</summary>
    public string Value => $"{NodeId}/{InstanceId}";

    /// <summary>The prefix every lease of this node starts with, whichever its instance.</summary>
    public string NodePrefix => NodeId + "/";

    /// <summary>A holder with a random node id: no earlier life can be recognised (for hosts without a data folder).</summary>
    public static LeaseHolder Ephemeral() => new($"{Environment.MachineName}-{Guid.NewGuid():N}", NewInstanceId());

    public static string NewInstanceId() => Guid.NewGuid().ToString("N")[..16];

    public override string ToString() => Value;
}
