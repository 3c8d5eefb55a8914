using System.Text;
using System.Text.Json;
using Cairn.Manifests;
using Cairn.Native.Linux;
using Cairn.Repository;

namespace Cairn.Restore;

/// <summary>An image file as a restore left it: what it must still look like to serve as a reflink base.</summary>
public sealed record OriginFile(string Name, long Size, long MTimeNs, long CTimeNs, ulong Inode, ulong Device);

/// <summary>
/// The <c>.cairn-origin</c> file a restore of an image snapshot leaves next to the images: which snapshot they are
/// and what each file looked like when the restore finished. A later restore can then clone the blocks it shares with
/// them (<c>--reflink-from</c>) knowing exactly what they hold, without reading them, as long as nothing touched
/// them since: the ctime and inode, which no one can set back, say so.
/// </summary>
public sealed record RestoreOrigin
{
    public const string FileName = ".cairn-origin";

    public required string Snapshot { get; init; }

    public required IReadOnlyList<OriginFile> Files { get; init; }

    /// <summary>
    /// Whether a restore of <paramref name="m"/> can record its origin: not if one of its images has the origin file's
    /// name (any name is a valid image name), whose restore would otherwise fail on the file it wrote.
    /// </summary>
    internal static bool CanRecord(Manifest m) => m.Lookup(0, Encoding.ASCII.GetBytes(FileName)) < 0;

    /// <summary>Writes the origin of the images restored into <paramref name="directory"/> (the root of <paramref name="m"/>).</summary>
    internal static void Write(FileDescriptor directory, SnapshotRecord snapshot, Manifest m)
    {
        var files = new List<OriginFile>();
        foreach (var i in m.RootFiles())
        {
            var stat = LinuxFile.Stat(directory, m.NameOf(i));
            files.Add(new OriginFile(Encoding.UTF8.GetString(m.NameOf(i)), stat.Size, stat.MTimeNs, stat.CTimeNs, stat.Inode, stat.Device));
        }

        var bytes = JsonSerializer.SerializeToUtf8Bytes(new RestoreOrigin { Snapshot = snapshot.Id.ToString(), Files = files }, CairnJsonContext.Default.RestoreOrigin);
        using var fd = LinuxFile.OpenAt(directory, Encoding.ASCII.GetBytes(FileName), OpenFlags.WriteOnly | OpenFlags.Create | OpenFlags.Exclusive | OpenFlags.NoFollow, 0b110_100_100);
        LinuxFile.WriteAll(fd, bytes, 0);
    }

    /// <summary>The origin recorded in <paramref name="directory"/>, or null if there is none or it cannot be parsed.</summary>
    internal static RestoreOrigin? TryRead(FileDescriptor directory)
    {
        if (LinuxFile.TryOpenAt(directory, Encoding.ASCII.GetBytes(FileName), OpenFlags.ReadOnly | OpenFlags.NoFollow, 0, out var opened) != 0 || opened is not { } fd)
        {
            return null;
        }

        using (fd)
        {
            var size = LinuxFile.Stat(fd).Size;
            if (size > 1 << 20)
            {
                return null;
            }

            var bytes = new byte[size];
            if (Cairn.Snapshot.FileContentReader.ReadFully(fd, bytes, 0) < bytes.Length)
            {
                return null;
            }

            try
            {
                return JsonSerializer.Deserialize(bytes, CairnJsonContext.Default.RestoreOrigin);
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }
}
