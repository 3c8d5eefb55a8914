namespace Cairn.Tests.Support;

/// <summary>A fact that needs root (it mounts a file system, or sets trusted.* xattrs): skipped, not failed, without it.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RootFactAttribute : FactAttribute
{
    /// <param name="why">What the test does that needs root, for the skip message.</param>
    public RootFactAttribute(string why = "it mounts a tmpfs")
    {
        if (!Environment.IsPrivilegedProcess)
        {
            Skip = $"This test needs root: {why}.";
        }
    }
}
