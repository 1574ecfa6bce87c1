/** The workflow interceptors of a traced worker (no OpenTelemetry in the sandbox). Alone here: tracing.ts loads first. */
export const tracingInterceptorModules = [require.resolve('../workflows/tracing.interceptors')];
