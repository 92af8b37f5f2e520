using System.Text.Json;

namespace RunSaga.Consumers.Staging;

/// <summary>
/// Which run and batch a message body names, read without deserializing it (a forward-only scan that allocates only
/// the strings it keeps): for a batch too large to parse, or one that could not be read, so that its run can still be
/// failed at once with the reason. Finds <c>runId</c> and <c>batchId</c> at the top level (a bare body) or inside
/// <c>message</c> (MassTransit's envelope); tolerates anything after them being broken.
/// </summary>
public readonly record struct BatchIdentity(Guid? RunId, string? BatchId, bool Bare)
{
    public static BatchIdentity Scan(ReadOnlySpan<byte> body)
    {
        Guid? runId = null;
        string? batchId = null;
        var bare = false;
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 1024, CommentHandling = JsonCommentHandling.Skip });
        var inMessage = false;
        try
        {
            while (reader.Read() && (runId is null || batchId is null))
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                var depth = reader.CurrentDepth;
                if (depth == 1 && reader.ValueTextEquals("message"))
                {
                    reader.Read();
                    inMessage = reader.TokenType == JsonTokenType.StartObject;
                    if (!inMessage)
                    {
                        reader.Skip();
                    }

                    continue;
                }

                var atMessageLevel = depth == 1 || (inMessage && depth == 2);
                if (atMessageLevel && (reader.ValueTextEquals("runId") || reader.ValueTextEquals("RunId")))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String && reader.TryGetGuid(out var id))
                    {
                        runId = id;
                        bare = depth == 1;
                    }
                }
                else if (atMessageLevel && (reader.ValueTextEquals("batchId") || reader.ValueTextEquals("BatchId")))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        var value = reader.GetString();
                        batchId = value is { Length: > BatchLimits.MaxBatchIdLength } ? value[..BatchLimits.MaxBatchIdLength] : value;
                    }
                }
                else if (depth >= 1)
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Broken after what was found: what was found stands.
        }

        return new BatchIdentity(runId, batchId, bare);
    }
}
