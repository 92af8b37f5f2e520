using RunSaga.Consumers.Tests.Infrastructure;
using RunSaga.Shared.Data;

namespace RunSaga.Consumers.Tests.Retention;

public sealed class When_the_retention_schedule_is_watched(PostgresDatabase database) : IClassFixture<PostgresDatabase>
{
    private const string Daily0200 = "0 0 2 * * ?";
    private static readonly DateTime Monday = new(2026, 3, 2, 12, 0, 0, DateTimeKind.Utc);

    private RecurringSchedule NewSchedule(string name) => new(database.DataSource, name, Daily0200);

    [Fact]
    public async Task Should_fire_once_per_occurrence_however_many_processes_watch_it()
    {
        var name = $"once-{Guid.NewGuid():N}";
        var (first, second) = (NewSchedule(name), NewSchedule(name));
        await first.EnsureAsync(Monday, CancellationToken.None);
        await second.EnsureAsync(Monday, CancellationToken.None);
        var fired = 0;
        async Task Fire(ScheduleFiring firing, CancellationToken _)
        {
            Interlocked.Increment(ref fired);
            await Task.Delay(200);
        }

        Assert.False(await first.FireIfDueAsync(Monday, Fire, CancellationToken.None));

        var tuesday0200 = new DateTime(2026, 3, 3, 2, 0, 1, DateTimeKind.Utc);
        var results = await Task.WhenAll(
            first.FireIfDueAsync(tuesday0200, Fire, CancellationToken.None),
            second.FireIfDueAsync(tuesday0200, Fire, CancellationToken.None));

        Assert.Equal(1, results.Count(x => x));
        Assert.Equal(1, fired);
        Assert.False(await second.FireIfDueAsync(tuesday0200.AddHours(1), Fire, CancellationToken.None));
        Assert.True(await second.FireIfDueAsync(tuesday0200.AddDays(1), Fire, CancellationToken.None));
    }

    [Fact]
    public async Task Should_fire_again_when_the_work_of_a_firing_failed()
    {
        var schedule = NewSchedule($"retry-{Guid.NewGuid():N}");
        await schedule.EnsureAsync(Monday, CancellationToken.None);
        var due = Monday.AddDays(1);

        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            schedule.FireIfDueAsync(due, (_, _) => throw new InvalidOperationException("broker down"), CancellationToken.None));

        Assert.True(await schedule.FireIfDueAsync(due, (_, _) => Task.CompletedTask, CancellationToken.None));
    }

    [Fact]
    public async Task Should_keep_its_next_occurrence_across_a_restart_and_fire_missed_ones_once()
    {
        var name = $"restart-{Guid.NewGuid():N}";
        await NewSchedule(name).EnsureAsync(Monday, CancellationToken.None);

        // Days later a new process starts: ensuring again must not push the missed occurrence away.
        var later = Monday.AddDays(5);
        var restarted = NewSchedule(name);
        await restarted.EnsureAsync(later, CancellationToken.None);

        Assert.True(await restarted.FireIfDueAsync(later, (_, _) => Task.CompletedTask, CancellationToken.None));
        Assert.False(await restarted.FireIfDueAsync(later, (_, _) => Task.CompletedTask, CancellationToken.None));
    }
}
