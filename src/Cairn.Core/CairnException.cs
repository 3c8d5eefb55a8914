namespace Cairn;

/// <summary>
/// The base of every error Cairn reports to its user. The message is one clear line: what failed and why.
/// The CLI prints it as is; anything that is not a <see cref="CairnException"/> is a bug.
/// </summary>
public class CairnException : Exception
{
    public CairnException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>A short, stable machine-readable code for JSON errors (e.g. <c>not-found</c>, <c>corrupt</c>).</summary>
    public virtual string Code => "error";
}

/// <summary>Data read back from the repository failed verification.</summary>
public sealed class CorruptDataException : CairnException
{
    public CorruptDataException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    public override string Code => "corrupt";
}

/// <summary>The user asked for something that cannot be done (bad argument, unknown snapshot, refused target).</summary>
public sealed class UsageException : CairnException
{
    public UsageException(string message)
        : base(message)
    {
    }

    public override string Code => "usage";
}
