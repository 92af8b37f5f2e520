using Npgsql;

namespace RunSaga.Shared.Data;

/// <summary>
/// Lets one of several processes run a periodic poll at a time (<c>runsaga.poll_leases</c>, see <see cref="PollLease"/>).
/// Every process asks each time its own timer ticks; the one whose update moves <c>next_poll_at</c> on by the interval
/// polls, the others find it not due. A second process that asks at the same moment waits on the row lock and then
/// finds it no longer due. Time is the database's (<c>now()</c>), so the hosts' clocks need not agree.
/// </summary>
public sealed class PollLeaseClaim(NpgsqlDataSource dataSource, string name)
{
    private const string ClaimSql = """
        INSERT INTO runsaga.poll_leases AS l (name, next_poll_at, polled_by, polled_at)
        VALUES (@name, now() + @interval, @holder, now())
        ON CONFLICT (name) DO UPDATE SET next_poll_at = excluded.next_poll_at, polled_by = excluded.polled_by, polled_at = excluded.polled_at
        WHERE l.next_poll_at <= now()
        """;

    /// <summary>This process, as <c>polled_by</c> shows it: host name and process id.</summary>
    public static string Holder { get; } = $"{Environment.MachineName}/{Environment.ProcessId}";

    /// <summary>
    /// True when this process may poll now. The lease lasts 90 % of <paramref name="interval"/>, so the holder's own next tick
    /// finds it due again even when the timer fires a little early; between ticks no other process polls.
    /// </summary>
    public async Task<bool> TryClaimAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ClaimSql);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("interval", interval * 0.9);
        command.Parameters.AddWithValue("holder", Holder);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>
    /// Gives the poll back after it failed here, so that another process takes the next tick instead of waiting for the
    /// lease to run out (and this process, which failed, winning it again). Best effort: the lease runs out anyway.
    /// </summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "UPDATE runsaga.poll_leases SET next_poll_at = now() WHERE name = @name AND polled_by = @holder");
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("holder", Holder);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
