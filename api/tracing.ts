/** The API's tracing: imported first by api/main.ts, so it is set up before what it instruments is loaded. */
import { startTracing } from '../platform/tracing';

export const tracing = startTracing('deskflow-api', { edge: true });
