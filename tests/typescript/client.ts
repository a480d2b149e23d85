// A single-page app's use of the Dyocense API, written only against the types that
// `openapi-typescript` generates from /openapi.json into ./api.ts. tests/test_typescript_client.py
// regenerates api.ts from the running app and type-checks this file with `tsc --strict`: a change
// to the API that breaks this usage (a renamed field, a removed parameter) fails the build.
import createClient from "openapi-fetch";
import type { components, paths } from "./api";

type Schemas = components["schemas"];
export type ErrorResponse = Schemas["ErrorResponse"];
export type Problem = Schemas["Problem"];
export type Metric = Schemas["MetricRead"];
export type Forecast = Schemas["ForecastRead"];
export type Queued = Schemas["JobAccepted"];

export type Api = ReturnType<typeof connect>;

export function connect(baseUrl: string, token?: string) {
  return createClient<paths>({
    baseUrl,
    headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
  });
}

/** An error envelope thrown as an exception, its problems at hand. */
export class ApiError extends Error {
  readonly code: string;
  readonly problems: Problem[];

  constructor(readonly status: number, envelope: ErrorResponse) {
    super(envelope.error.message);
    this.code = envelope.error.code;
    this.problems = envelope.error.details.problems;
  }
}

/** One line per problem, naming what it is about: a field, a document path or a file's cell. */
export function describeProblems(envelope: ErrorResponse): string[] {
  return envelope.error.details.problems.map((problem: Problem) => {
    const where =
      problem.field ?? problem.path ?? (problem.row == null ? null : `row ${problem.row}, ${problem.column ?? "-"}`);
    return `${where ?? envelope.error.code}: ${problem.message} (${problem.code})`;
  });
}

export async function signIn(baseUrl: string, email: string, password: string): Promise<Api> {
  const { data, error, response } = await connect(baseUrl).POST("/api/v1/auth/login", {
    body: { email, password },
  });
  if (error !== undefined) throw new ApiError(response.status, error);
  const expiresInMs: number = data.expires_in * 1000;
  console.debug(`signed in for ${expiresInMs} ms, refresh until ${data.refresh_expires_at}`);
  return connect(baseUrl, data.access_token);
}

/** Every metric, page after page (`limit`/`offset` in, `items`/`total` out). */
export async function allMetrics(api: Api, pageSize = 100): Promise<Metric[]> {
  const metrics: Metric[] = [];
  for (let offset = 0; ; offset += pageSize) {
    const { data, error, response } = await api.GET("/api/v1/metrics", {
      params: { query: { limit: pageSize, offset } },
    });
    if (error !== undefined) throw new ApiError(response.status, error);
    metrics.push(...data.items);
    if (offset + data.items.length >= data.total || data.items.length === 0) return metrics;
  }
}

/** A forecast answered now (201) or queued as a job (202, its status at `Location`). */
export async function forecast(api: Api, metric: string, horizon: number): Promise<Forecast | Queued> {
  const { data, error, response } = await api.POST("/api/v1/forecasts", { body: { metric, horizon } });
  if (error !== undefined) throw new ApiError(response.status, error);
  if ("job_id" in data) {
    console.debug(`queued as ${data.job_id}; poll ${response.headers.get("Location") ?? data.status_url}`);
    return data;
  }
  const next = data.points[0];
  console.debug(`${data.metric} ${data.frequency}: next ${next?.ts ?? "-"} ~ ${next?.mean ?? "-"}`);
  return data;
}

type StreamQuery = NonNullable<paths["/api/v1/coach/chat/stream"]["get"]["parameters"]["query"]>;

/** A browser EventSource on the coach's stream: a short-lived ticket replaces the bearer header. */
export async function openCoachStream(api: Api, baseUrl: string, message: string): Promise<EventSource> {
  const { data, error, response } = await api.POST("/api/v1/coach/chat/stream/tickets");
  if (error !== undefined) throw new ApiError(response.status, error);
  const query: StreamQuery = { ticket: data.ticket, message };
  const url = new URL(data.stream_url ?? "/api/v1/coach/chat/stream", baseUrl);
  for (const [key, value] of Object.entries(query)) {
    if (typeof value === "string") url.searchParams.set(key, value);
  }
  return new EventSource(url);
}
