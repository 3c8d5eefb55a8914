using System.CommandLine;
using Cairn.Native.Fuse;

namespace Cairn.Cli.Commands;

internal static class UmountCommand
{
    public static Command Create()
    {
        var mountPoint = new Argument<string>("mountpoint") { Description = "Where the snapshot is mounted." };
        var command = new Command("umount", "Unmount a mounted snapshot (lazily if it is busy: it goes away once the last open file closes); its server then exits.") { mountPoint };
        command.SetAction(CliContext.Run((context, ct) =>
        {
            if (!OperatingSystem.IsLinux())
            {
                throw new UsageException("mounting needs Linux (FUSE)");
            }

            var path = Path.GetFullPath(context.ParseResult.GetValue(mountPoint)!);
            var result = FuseMount.UnmountPath(path);
            var text = result switch
            {
                FuseUnmountResult.Unmounted => $"unmounted {path}",
                FuseUnmountResult.LazilyUnmounted => $"unmounted {path} lazily: it was busy, it goes away when the last open file is closed",
                _ => throw new UsageException($"nothing is mounted at {path}"),
            };
            if (!context.Json)
            {
                Console.Out.WriteLine(text);
            }

            return Task.FromResult(0);
        }));
        return command;
    }
}
