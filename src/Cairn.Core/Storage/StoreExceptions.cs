namespace Cairn.Storage;

/// <summary>A store operation failed. The message names the object and the cause in one line.</summary>
public class StoreException : CairnException
{
    public StoreException(string key, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Key = key;
    }

    /// <summary>The object the operation was about (empty for store-wide failures).</summary>
    public string Key { get; }
}

/// <summary>The object does not exist.</summary>
public sealed class ObjectNotFoundException : StoreException
{
    public ObjectNotFoundException(string key, string location)
        : base(key, $"object '{key}' not found in {location}")
    {
    }
}

/// <summary>A conditional write found the object not in the state it required.</summary>
public sealed class PreconditionFailedException : StoreException
{
    public PreconditionFailedException(string key, string message)
        : base(key, message)
    {
    }
}
