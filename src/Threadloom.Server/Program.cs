using Threadloom.Server.Hosting;

if (args.Length > 0 && args[0] == "keys")
{
    return await KeysCommand.RunAsync(args[1..]);
}

var builder = ThreadloomApp.CreateBuilder(args);
var app = await ThreadloomApp.BuildAsync(builder);
await app.RunAsync();
return 0;
