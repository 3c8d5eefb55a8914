using System.CommandLine;
using Cairn.Mount;
using Cairn.Native.Fuse;

namespace Cairn.Cli.Commands;

internal static class UmountCommand
{
    public static Command Create()
    {
        var mountPoint = new Argument<string>("mountpoint") { Description = "Where the snapshot is mounted." };
        var command = new Command("umount", "Unmount a mounted snapshot, writable ones with their overlay (lazily if busy: it goes away once the last open file closes); its server then exits. The changes of a writable mount stay in its upper directory.") { mountPoint };
        command.SetAction(CliContext.Run((context, ct) =>
        {
            if (!OperatingSystem.IsLinux())
            {
                throw new UsageException("mounting needs Linux (FUSE)");
            }

            var path = Path.GetFullPath(context.ParseResult.GetValue(mountPoint)!);
            var result = Unmount(path);
            var text = result switch
            {
                FuseUnmountResult.Unmounted => $"unmounted {path}",
                FuseUnmountResult.LazilyUnmounted => $"unmounted {path} lazily: it was busy, it goes away when the last open file is closed",
                _ => throw new UsageException($"nothing is mounted at {path}"),
            };
            if (context.Json)
            {
                CliContext.WriteJson(new UmountOutput(path, result == FuseUnmountResult.LazilyUnmounted), CliJsonContext.Default.UmountOutput);
            }
            else
            {
                Console.Out.WriteLine(text);
            }

            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>A writable mount: the overlay, then the snapshot under it (whose server then exits); else the FUSE mount.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static FuseUnmountResult Unmount(string path)
    {
        if (OverlayLayer.Find(path) is not var (state, _))
        {
            return FuseMount.UnmountPath(path);
        }

        var overlay = OverlayLayer.Unmount(state.Flavor, path);
        var lower = FuseMount.UnmountPath(state.Lower);
        return overlay == FuseUnmountResult.LazilyUnmounted || lower == FuseUnmountResult.LazilyUnmounted ? FuseUnmountResult.LazilyUnmounted : FuseUnmountResult.Unmounted;
    }
}
