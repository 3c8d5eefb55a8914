using Cairn.Format;

namespace Cairn.Repository;

/// <summary>The repository layout: where each kind of object lives (docs/format.md, "Repository layout").</summary>
public static class ObjectKeys
{
    public const string Config = "config";
    public const string PacksPrefix = "packs/";
    public const string IndexPrefix = "index/";
    public const string ManifestsPrefix = "manifests/";
    public const string SnapshotsPrefix = "snapshots/";
    public const string TagsPrefix = "tags/";
    public const string TracesPrefix = "traces/";

    /// <summary>Packs fan out over 256 prefixes so no directory (or S3 listing page) grows unbounded.</summary>
    public static string Pack(ContentId id)
    {
        var hex = id.ToString();
        return $"{PacksPrefix}{hex[..2]}/{hex}";
    }

    public static string Index(ContentId id) => IndexPrefix + id;

    public static string Manifest(ContentId treeHash) => ManifestsPrefix + treeHash;

    public static string Snapshot(ContentId id) => SnapshotsPrefix + id;

    public static string Tag(string name) => TagsPrefix + name;

    /// <summary>The read trace recorded by the first mount of a tree (advisory: what to prefetch first).</summary>
    public static string Trace(ContentId treeHash) => TracesPrefix + treeHash;

    /// <summary>The id at the end of a key, if it is one.</summary>
    public static bool TryParseId(string key, out ContentId id)
    {
        var slash = key.LastIndexOf('/');
        return ContentId.TryParse(key.AsSpan(slash + 1), out id);
    }
}
