namespace RunSaga.Contracts;

/// <summary>A run's artifacts were written to its archive file, verified, and removed from staging.</summary>
public sealed record RunArchived
{
    public Guid RunId { get; init; }
    public string? Source { get; init; }
    /// <summary>Relative to ARCHIVE_BASE_PATH.</summary>
    public string ArchivePath { get; init; } = null!;
    public int Items { get; init; }
    public int Batches { get; init; }
}

/// <summary>A run's artifacts were deleted (and with <c>hard</c> its row); <c>run_audit</c> holds its summary.</summary>
public sealed record RunDeleted
{
    public Guid RunId { get; init; }
    public string? Source { get; init; }
    /// <summary><c>soft</c> or <c>hard</c>.</summary>
    public string Strategy { get; init; } = null!;
    public string Reason { get; init; } = null!;
    public string RequestedBy { get; init; } = null!;
}

/// <summary>An archived run's items and batches are back in staging, read-only.</summary>
public sealed record RunRestored
{
    public Guid RunId { get; init; }
    public string? Source { get; init; }
    public int Items { get; init; }
    public int Batches { get; init; }
}

/// <summary>The run's pin changed; null or past <see cref="Until"/> means it is not pinned.</summary>
public sealed record RunPinned
{
    public Guid RunId { get; init; }
    public DateTimeOffset? Until { get; init; }
}

/// <summary>A soft-deleted run is back (<see cref="UndeleteRun"/>): archived again under <see cref="ArchivePath"/>.</summary>
public sealed record RunUndeleted
{
    public Guid RunId { get; init; }
    public string? Source { get; init; }
    public string ArchivePath { get; init; } = null!;
    public string RequestedBy { get; init; } = null!;
}
