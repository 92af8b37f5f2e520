using Microsoft.Extensions.DependencyInjection;

namespace RunSaga.Shared.Hosting;

public static class RunSagaOptionsRegistration
{
    public static IServiceCollection AddRunSagaOptions(this IServiceCollection services)
    {
        services.AddOptions<RunSagaOptions>()
            .BindConfiguration(string.Empty)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        return services;
    }
}
