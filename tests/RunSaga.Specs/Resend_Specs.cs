using RunSaga.Contracts;

namespace RunSaga.Specs;

public sealed class When_a_flushed_run_hears_nothing_from_promotion : RunSagaHarness
{
    protected override TimeSpan ResendAfter => TimeSpan.FromMilliseconds(200);

    protected override async Task Given()
    {
        await DriveToFlushed();
        Clock.Advance(ResendAfter * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "resend" });
    }

    [Fact]
    public async Task Should_send_promote_run_again()
    {
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Idle();
        Assert.Equal(2, CountSent<PromoteRun>(m => m.RunId == RunId));
        var run = await RunIn(m => m.Flushed);
        Assert.NotNull(run.ResendAt);
    }
}

public sealed class When_a_promoted_run_hears_nothing_from_lineage : RunSagaHarness
{
    protected override TimeSpan ResendAfter => TimeSpan.FromMilliseconds(200);

    protected override async Task Given()
    {
        await DriveToFlushed();
        await Publish(Upserted());
        Assert.True(await WasSent<StampLineage>(m => m.RunId == RunId));
        Clock.Advance(ResendAfter * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "resend" });
    }

    [Fact]
    public async Task Should_send_stamp_lineage_again_and_not_promote_again()
    {
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Idle();
        Assert.Equal(2, CountSent<StampLineage>(m => m.RunId == RunId));
        Assert.Equal(1, CountSent<PromoteRun>(m => m.RunId == RunId));
    }
}

public sealed class When_a_flushing_run_hears_nothing_from_the_flush_check : RunSagaHarness
{
    protected override TimeSpan ResendAfter => TimeSpan.FromMilliseconds(100);

    // Far beyond the resend, so a slow machine cannot turn this scenario into FLUSH_INCOMPLETE.
    protected override TimeSpan FlushTimeout => TimeSpan.FromHours(1);

    protected override async Task Given()
    {
        await Publish(Started());
        await Publish(Completed(10, 1));
        await RunIn(m => m.Flushing);
        Clock.Advance(ResendAfter * 2);
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "resend" });
    }

    [Fact]
    public async Task Should_send_flush_run_again_and_keep_waiting()
    {
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Idle();
        Assert.Equal(2, CountSent<FlushRun>(m => m.RunId == RunId));
        await RunIn(m => m.Flushing);
    }
}

public sealed class When_a_resend_comes_before_it_is_due : RunSagaHarness
{
    protected override async Task Given()
    {
        await DriveToFlushed();
        await Publish(new RunDeadlinePassed { RunId = RunId, Deadline = "resend" });
    }

    [Fact]
    public async Task Should_send_nothing_again()
    {
        Assert.True(await Consumed<RunDeadlinePassed>());
        await Idle();
        Assert.Equal(1, CountSent<PromoteRun>(m => m.RunId == RunId));
    }
}
