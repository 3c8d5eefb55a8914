using System.Text.Json;
using System.Text.Json.Serialization;
using Cairn.Snapshot;

namespace Cairn.Mount;

/// <summary>
/// <c>overlay.json</c> in an <see cref="OverlayDirectory"/>: which snapshot of which repository the changes in
/// <c>upper/</c> apply to, and how it is mounted. Written when the overlay is mounted; read by
/// <c>cairn snapshot --from-mount</c> (which refuses another repository) and <c>cairn umount</c>, and by a later
/// mount with the same directory (which refuses another snapshot: the changes only make sense on their base).
/// </summary>
public sealed record OverlayState
{
    public const string FileName = "overlay.json";

    public int Version { get; init; } = 1;

    /// <summary>The repository location as given (a path or an s3:// URL), for messages.</summary>
    public required string Repository { get; init; }

    /// <summary>The repository's config id: what identifies it wherever it is reached from.</summary>
    public required string RepositoryId { get; init; }

    /// <summary>The base snapshot's full id.</summary>
    public required string Snapshot { get; init; }

    /// <summary><c>kernel</c> or <c>fuse-overlayfs</c>: how the upper directory marks deletions and opaque directories.</summary>
    public required string Overlay { get; init; }

    public required string MountPoint { get; init; }

    public required string Upper { get; init; }

    public required string Lower { get; init; }

    /// <summary>The process serving the snapshot (the lower layer).</summary>
    public int Pid { get; init; }

    public DateTimeOffset Mounted { get; init; }

    [JsonIgnore]
    public OverlayFlavor Flavor => Overlay == KernelName ? OverlayFlavor.Kernel : OverlayFlavor.FuseOverlayfs;

    internal const string KernelName = "kernel";

    internal const string FuseName = "fuse-overlayfs";

    internal static string NameOf(OverlayFlavor flavor) => flavor == OverlayFlavor.Kernel ? KernelName : FuseName;

    /// <summary>The state in <paramref name="directory"/>, or null if it has none.</summary>
    /// <exception cref="CairnException">The file is there but unreadable or damaged.</exception>
    public static OverlayState? TryRead(OverlayDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(directory.StateFile);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(bytes, MountJsonContext.Default.OverlayState) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new CairnException($"'{directory.StateFile}' is damaged: {e.Message}");
        }
    }

    /// <summary>Writes the file (through a temporary file and a rename: never half-written).</summary>
    public void Write(OverlayDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var temporary = directory.StateFile + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(this, MountJsonContext.Default.OverlayState));
        File.Move(temporary, directory.StateFile, overwrite: true);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(OverlayState))]
internal sealed partial class MountJsonContext : JsonSerializerContext;
