using System.Text.Json.Serialization;
using Cairn.Repository;
using Cairn.Storage;

namespace Cairn.Cli;

internal sealed record CliError(CliErrorBody Error);

internal sealed record CliErrorBody(string Code, string Message);

internal sealed record RequestCounts(long Gets, long Puts, long Lists, long Heads, long BytesRead, long BytesWritten, long Retries)
{
    public static RequestCounts From(StoreStatistics s) => new(s.Gets, s.Puts, s.Lists, s.Heads, s.BytesRead, s.BytesWritten, s.Retries);
}

internal sealed record SnapshotOutput(string Id, string Kind, string Tree, string? Parent, DateTimeOffset Time, string Source, IReadOnlyList<string>? Paths, IReadOnlyList<string> Tags, SnapshotStats Stats, IReadOnlyList<string> Skipped, IReadOnlyList<string> Warnings, RequestCounts Requests, IReadOnlyList<Cairn.Snapshot.RelayoutCause> Relayouts, long UncoveredBytes);

internal sealed record RestoreOutput(string Snapshot, string Target, long Entries, long Bytes, long BytesCloned, long BytesDecompressed, string? ClonedFrom, double Seconds, IReadOnlyList<string> Warnings, RequestCounts Requests);

internal sealed record SnapshotListItem(string Id, string Kind, string Tree, string? Parent, DateTimeOffset Time, string Host, string Source, IReadOnlyList<string>? Paths, IReadOnlyList<string> Tags, SnapshotStats Stats);

internal sealed record EntryOutput(string Path, string Kind, string Mode, uint Uid, uint Gid, long Size, DateTimeOffset MTime, string? Target);

internal sealed record ShowOutput(SnapshotListItem Snapshot, int Chunks, int Frames, int Packs, IReadOnlyList<EntryOutput> Entries);

internal sealed record DiffItem(string Change, string Path, long? ChangedBytes);

internal sealed record InitOutput(string Repository, string Id);

internal sealed record TagOutput(string Name, string Snapshot);

internal sealed record LogItem(string Id, string? Parent, int Depth, DateTimeOffset Time, string Kind, IReadOnlyList<string> Tags, string Source, long Bytes, long NewBytes, long StoredBytes);

/// <summary>The chain from the snapshot asked for (first) to the root (last); <c>MissingParent</c> if it ends at a parent no longer there.</summary>
internal sealed record LogOutput(IReadOnlyList<LogItem> Snapshots, string? MissingParent);

internal sealed record InspectOutput(string Id, string Kind, string? Parent, bool ParentFound, bool SameTreeAsParent, long ManifestBytes, int Chunks, int Frames, int Packs, IReadOnlyList<Cairn.Inspection.BlockMap> Files);

internal sealed record UmountOutput(string MountPoint, bool Lazily);

internal sealed record MountOutput(string Snapshot, string MountPoint, int Pid, string? CacheDirectory, string? Upper, double Seconds);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CliError))]
[JsonSerializable(typeof(SnapshotOutput))]
[JsonSerializable(typeof(RestoreOutput))]
[JsonSerializable(typeof(List<SnapshotListItem>))]
[JsonSerializable(typeof(ShowOutput))]
[JsonSerializable(typeof(List<DiffItem>))]
[JsonSerializable(typeof(List<TagOutput>))]
[JsonSerializable(typeof(TagOutput))]
[JsonSerializable(typeof(InitOutput))]
[JsonSerializable(typeof(LogOutput))]
[JsonSerializable(typeof(InspectOutput))]
[JsonSerializable(typeof(UmountOutput))]
[JsonSerializable(typeof(MountOutput))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
