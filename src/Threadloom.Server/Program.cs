using Threadloom.Server.Hosting;

if (args.Length > 0 && args[0] == Threadloom.Core.Ingestion.ExtractionWorkerProcess.Command)
{
    // The document extraction worker (ADR 0004): one file in on stdin, one reply out on stdout.
    return await Threadloom.Core.Ingestion.ExtractionWorkerProcess.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "keys")
{
    return await KeysCommand.RunAsync(args[1..]);
}

var builder = ThreadloomApp.CreateBuilder(args);
var app = await ThreadloomApp.BuildAsync(builder);
try
{
    await app.RunAsync();
}
catch (ListenerRefusedException e)
{
    // Kestrel had bound the addresses when the check ran; nothing was served in dev mode meanwhile.
    await Console.Error.WriteLineAsync(e.Message);
    return 3;
}
return 0;
