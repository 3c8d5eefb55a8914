namespace Cairn.Repository;

/// <summary>
/// Where this host keeps what it fetched from or restored out of a repository: one directory per repository under a
/// root, named by the repository's random id (<see cref="RepositoryConfig.Id"/>), so that every process using the
/// same repository shares it. A mount keeps its decompressed frames in <c>frames/</c>; a restore with <c>--reflink</c>
/// keeps the image versions it restored in <c>images/</c>.
/// </summary>
public static class LocalCache
{
    /// <summary><c>$XDG_CACHE_HOME/cairn</c>, else <c>~/.cache/cairn</c>.</summary>
    public static string DefaultRoot
    {
        get
        {
            var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (string.IsNullOrEmpty(cache))
            {
                cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            }

            return Path.Combine(cache, "cairn");
        }
    }

    /// <summary>The cache directory of repository <paramref name="repositoryId"/> under <paramref name="root"/> (not created).</summary>
    public static string DirectoryOf(string root, string repositoryId)
    {
        // The id comes from the repository's config: it must not be able to name a path outside the root.
        if (repositoryId.Length == 0 || !repositoryId.All(char.IsAsciiLetterOrDigit))
        {
            throw new CairnException($"the repository id '{repositoryId}' cannot name a cache directory");
        }

        return Path.Combine(Path.GetFullPath(root), repositoryId);
    }
}
