using System.Reflection;
using System.Reflection.Emit;
using Threadloom.Core.Runs;
using Threadloom.Core.Storage;

namespace Threadloom.Core.Tests.Runs;

/// <summary>
/// The single-owner guarantee of issue #12 §1, read from the compiled code: no type of the engine or the server but
/// <see cref="RunLifecycle"/> writes a run's status, a run's steps, or publishes a run's events. The IL of every method
/// (lambdas and async state machines included, counted as the type that declares them) is searched for calls.
/// </summary>
public sealed class RunLifecycleOwnershipTests
{
    /// <summary>The calls that write a run's status or steps, or put an event on a run's stream.</summary>
    private static readonly HashSet<(Module, int)> OwnedCalls = Keys(
    [
        .. Methods(typeof(IRunStore), nameof(IRunStore.UpdateAsync), nameof(IRunStore.TryCreateAsync), nameof(IRunStore.ClaimAsync)),
        .. Methods(typeof(IRunStepStore), nameof(IRunStepStore.CreateAsync), nameof(IRunStepStore.UpdateAsync)),
        .. Methods(typeof(IStoreWriter), nameof(IStoreWriter.UpdateRunAsync), nameof(IStoreWriter.TryInsertRunAsync), nameof(IStoreWriter.UpsertStepAsync),
            nameof(IStoreWriter.UpdateRunOrAbandonAsync), nameof(IStoreWriter.InsertRunOrAbandonAsync)),
        .. Methods(typeof(UnitOfWorkWrites), nameof(UnitOfWorkWrites.UpdateRunAsync), nameof(UnitOfWorkWrites.CreateRunAsync)),
        .. Methods(typeof(IRunEventBus), nameof(IRunEventBus.Publish)),
    ]);

    /// <summary>
    /// Who may make them: the lifecycle, and <see cref="UnitOfWorkWrites"/>, the shared body of the stores' own
    /// <see cref="IRunStore.UpdateAsync"/> and <see cref="IRunStore.TryCreateAsync"/> (storage, which the lifecycle calls).
    /// </summary>
    private static readonly Type[] Owners = [typeof(RunLifecycle), typeof(UnitOfWorkWrites)];

    [Fact]
    public void OnlyRunLifecycle_WritesRunStatusOrStepsOrPublishesRunEvents()
    {
        var offenders = new[] { typeof(RunLifecycle).Assembly, typeof(Server.Hosting.StorageRegistration).Assembly }
            .SelectMany(CallsIn)
            .Where(c => OwnedCalls.Contains((c.Callee.Module, c.Callee.MetadataToken)) && !Owners.Contains(c.Caller))
            .Select(c => $"{c.Caller.FullName} calls {c.Callee.DeclaringType!.Name}.{c.Callee.Name}")
            .Distinct()
            .Order()
            .ToList();
        Assert.Empty(offenders);
    }

    [Fact]
    public void TheScan_SeesTheLifecyclesOwnCalls()
    {
        // Without this the test above would pass on a scanner that finds nothing.
        var seen = Keys(CallsIn(typeof(RunLifecycle).Assembly).Where(c => c.Caller == typeof(RunLifecycle)).Select(c => c.Callee));
        Assert.Superset(Keys(
            [
                typeof(IStoreWriter).GetMethod(nameof(IStoreWriter.UpdateRunOrAbandonAsync))!,
                typeof(IRunEventBus).GetMethod(nameof(IRunEventBus.Publish))!,
                typeof(IRunStore).GetMethod(nameof(IRunStore.TryCreateAsync))!,
                typeof(IRunStore).GetMethod(nameof(IRunStore.ClaimAsync))!,
            ]), seen);
    }

    private static HashSet<(Module, int)> Keys(IEnumerable<MethodInfo> methods) => methods.Select(m => (m.Module, m.MetadataToken)).ToHashSet();

    private static IEnumerable<MethodInfo> Methods(Type type, params string[] names) =>
        type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance).Where(m => names.Contains(m.Name));

    private static IEnumerable<(Type Caller, MethodInfo Callee)> CallsIn(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in assembly.GetTypes())
        {
            var owner = type;
            while (owner.DeclaringType is { } outer)
            {
                owner = outer;
            }
            foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                foreach (var callee in Callees(method))
                {
                    yield return (owner, callee);
                }
            }
        }
    }

    /// <summary>The methods <paramref name="method"/> calls (call, callvirt, ldftn), decoded opcode by opcode.</summary>
    private static IEnumerable<MethodInfo> Callees(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            yield break;
        }
        var typeArguments = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var at = 0;
        while (at < il.Length)
        {
            var opCode = il[at] == 0xFE ? TwoByte[il[at + 1]] : OneByte[il[at]];
            at += opCode.Size;
            if (opCode.OperandType == OperandType.InlineMethod)
            {
                var token = BitConverter.ToInt32(il, at);
                MethodBase? callee = null;
                try
                {
                    callee = method.Module.ResolveMethod(token, typeArguments, methodArguments);
                }
                catch (ArgumentException)
                {
                    // A token the generic context cannot resolve: not one of the calls looked for.
                }
                if (callee is MethodInfo info)
                {
                    yield return info.IsGenericMethod ? info.GetGenericMethodDefinition() : info;
                }
            }
            at += OperandSize(opCode, il, at);
        }
    }

    private static int OperandSize(OpCode opCode, byte[] il, int at) => opCode.OperandType switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, at)),
        _ => 4,
    };

    private static readonly OpCode[] OneByte = OpCodeTable(twoByte: false);
    private static readonly OpCode[] TwoByte = OpCodeTable(twoByte: true);

    private static OpCode[] OpCodeTable(bool twoByte)
    {
        var table = new OpCode[256];
        foreach (var opCode in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!))
        {
            if ((opCode.Size == 2) == twoByte)
            {
                table[opCode.Value & 0xFF] = opCode;
            }
        }
        return table;
    }
}
