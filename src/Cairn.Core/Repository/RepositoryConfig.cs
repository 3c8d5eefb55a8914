using System.Text.Json;
using System.Text.Json.Serialization;
using Cairn.Chunking;
using Cairn.IO;

namespace Cairn.Repository;

/// <summary>
/// The repository's <c>config</c> object: format version and the parameters every writer must share (chunker,
/// compression, frame and pack sizes). Written once, create-only, at <c>cairn init</c>.
/// </summary>
public sealed record RepositoryConfig
{
    public const int CurrentVersion = 1;

    public const int DefaultImageBlockSize = 4 << 10;

    public string Format { get; init; } = "cairn";

    public int Version { get; init; } = CurrentVersion;

    /// <summary>A random id, so caches of different repositories never mix.</summary>
    public string Id { get; init; } = RandomName.Hex(32);

    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    public string Hash { get; init; } = "sha256";

    public string Chunker { get; init; } = "fastcdc-2020";

    public int ChunkMin { get; init; } = ChunkerParameters.Default.MinSize;

    public int ChunkAverage { get; init; } = ChunkerParameters.Default.AverageSize;

    public int ChunkMax { get; init; } = ChunkerParameters.Default.MaxSize;

    /// <summary>
    /// Block size of image snapshots (fixed, aligned blocks; all-zero blocks left out). Configs written before
    /// images existed lack the field and get this default. See docs/format.md ("Image block size").
    /// </summary>
    public int ImageBlockSize { get; init; } = DefaultImageBlockSize;

    public string Compression { get; init; } = "zstd";

    public int CompressionLevel { get; init; } = 3;

    /// <summary>Target uncompressed size of a frame: consecutive chunks are grouped until it is reached.</summary>
    public int FrameSize { get; init; } = 2 << 20;

    /// <summary>Target size of a pack object.</summary>
    public int PackSize { get; init; } = 16 << 20;

    /// <summary>Reserved for encryption at rest; "none" is the only value this version writes or reads.</summary>
    public string Encryption { get; init; } = "none";

    [JsonIgnore]
    public ChunkerParameters ChunkerParameters => new(ChunkMin, ChunkAverage, ChunkMax);

    /// <summary>The longest chunk any chunker of this repository cuts: what a frame must have room for beyond its target size.</summary>
    [JsonIgnore]
    public int MaxChunkLength => Math.Max(ChunkMax, ImageBlockSize);

    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(this, CairnJsonContext.Default.RepositoryConfig);

    public static RepositoryConfig Parse(ReadOnlySpan<byte> json, string location)
    {
        RepositoryConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(json, CairnJsonContext.Default.RepositoryConfig);
        }
        catch (JsonException e)
        {
            throw new CorruptDataException($"the repository config at {location} is not valid JSON: {e.Message}", e);
        }

        if (config is null || config.Format != "cairn")
        {
            throw new CairnException($"{location} is not a Cairn repository");
        }

        if (config.Version > CurrentVersion)
        {
            throw new CairnException($"{location} is repository format version {config.Version}; this Cairn supports up to version {CurrentVersion}: upgrade Cairn");
        }

        if (config.Hash != "sha256" || config.Chunker != "fastcdc-2020" || config.Compression != "zstd" || config.Encryption != "none")
        {
            throw new CairnException($"{location} uses features this Cairn does not support (hash {config.Hash}, chunker {config.Chunker}, compression {config.Compression}, encryption {config.Encryption})");
        }

        if (config.ImageBlockSize == 0)
        {
            // Written before images existed (the deserializer leaves a missing init-only property at 0, not at its initializer).
            config = config with { ImageBlockSize = DefaultImageBlockSize };
        }

        config.ChunkerParameters.Validate();
        if (!FixedBlockChunker.IsValidBlockSize(config.ImageBlockSize))
        {
            throw new CairnException($"{location} has an invalid image block size {config.ImageBlockSize}: need a power of two from {FixedBlockChunker.MinBlockSize} to {FixedBlockChunker.MaxBlockSize} bytes");
        }

        if (config.FrameSize < config.MaxChunkLength || config.FrameSize > Manifests.ManifestCodec.MaxFrameLength || config.PackSize < config.FrameSize)
        {
            throw new CairnException($"{location} has invalid frame/pack sizes ({config.FrameSize}/{config.PackSize})");
        }

        return config;
    }
}
