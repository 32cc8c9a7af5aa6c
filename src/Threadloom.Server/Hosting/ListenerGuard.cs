using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Threadloom.Server.Auth;

namespace Threadloom.Server.Hosting;

/// <summary>The server refuses to run: dev mode would apply on an address reachable from the network.</summary>
public sealed class ListenerRefusedException(string message) : Exception(message);

/// <summary>
/// Decides dev mode from the addresses the server really bound, once it has started, whatever configured them
/// (<c>--urls</c>, <c>Kestrel:Endpoints</c> from any source, <c>ASPNETCORE_*</c>). When one is not loopback while dev
/// mode would apply, the start fails with <see cref="ListenerRefusedException"/>.
/// </summary>
/// <remarks>Design notes (issue #9 §4): the addresses are read from <see cref="IServerAddressesFeature"/> in
/// <see cref="StartedAsync"/>, which the host calls after every hosted service started, Kestrel included. Until then
/// <see cref="DevMode"/> is off, so a request that races the check gets a 401, never a dev-mode grant. A hostname other
/// than <c>localhost</c> counts as reachable (Kestrel binds such names to every interface). A Unix socket is local.</remarks>
internal sealed partial class ListenerGuard(IServer server, DevMode devMode, KeySetCache keys, ILogger<ListenerGuard> logger) : IHostedLifecycleService
{
    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
        var reachable = addresses.Where(a => !IsLocal(a)).ToList();
        var state = await keys.GetStateAsync(cancellationToken);
        if (reachable.Count > 0 && devMode.WouldApply(state))
        {
            throw new ListenerRefusedException(
                $"Refusing to start: the server is bound to {string.Join(", ", reachable)}, which is reachable beyond this machine, and no API key was ever created, " +
                "so dev mode would accept any key. Create a key first ('threadloom keys create --project NAME'), or listen on 127.0.0.1 only.");
        }
        devMode.ListenersBound(reachable.Count == 0, state);
        var bound = string.Join(", ", addresses);
        LogListening(bound);
    }

    /// <summary>True for a loopback IP, <c>localhost</c>, or a Unix socket.</summary>
    internal static bool IsLocal(string address)
    {
        BindingAddress parsed;
        try
        {
            parsed = BindingAddress.Parse(address);
        }
        catch (FormatException)
        {
            return false;
        }
        if (parsed.IsUnixPipe)
        {
            return true;
        }
        var host = parsed.Host.Trim('[', ']');
        return string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip));
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening on {Addresses}")]
    private partial void LogListening(string addresses);
}
