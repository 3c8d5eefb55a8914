using System.Text.Json.Serialization;
using Cairn.Repository;

namespace Cairn;

/// <summary>Source-generated JSON for every JSON object Cairn stores or prints (trimming- and AOT-safe).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(RepositoryConfig))]
[JsonSerializable(typeof(SnapshotRecord))]
[JsonSerializable(typeof(TagRecord))]
[JsonSerializable(typeof(Cairn.Restore.RestoreOrigin))]
internal sealed partial class CairnJsonContext : JsonSerializerContext;
