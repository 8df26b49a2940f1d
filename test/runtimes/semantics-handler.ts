import { createSemanticsApp, type SemanticsApp, type SemanticsProbe } from "../http/semantics-app.js";
import { fetchApp, honoApp } from "../http/web-apps.js";

// The semantics app as one fetch handler, for a server inside Bun, Deno or workerd: the suite's routes behind the
// chosen adapter, and the probe at POST /__probe/<method> (JSON arguments in, `{ value }` out) for the suite on the
// Vitest side. The app is made on the first request: workerd allows no timers or random values at module load.

export type RuntimeAdapter = "fetch" | "hono";

export const PROBE_PATH = "/__probe/";

export function semanticsHandler(adapter: RuntimeAdapter): (request: Request) => Promise<Response> {
  let app: SemanticsApp | undefined;
  let serve: ((request: Request) => Promise<Response>) | undefined;
  return async function semantics(request) {
    if (!app || !serve) {
      app = createSemanticsApp({ transactional: true });
      if (adapter === "hono") {
        const hono = honoApp(app.idem, app.routes);
        serve = async (req) => hono.fetch(req);
      } else {
        serve = fetchApp(app.idem, app.routes);
      }
    }
    const { pathname } = new URL(request.url);
    if (!pathname.startsWith(PROBE_PATH)) return serve(request);
    const method = pathname.slice(PROBE_PATH.length) as keyof SemanticsProbe;
    const args = (await request.json()) as unknown[];
    const call = app.probe[method] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (typeof call !== "function") return new Response(`no probe method ${method}`, { status: 404 });
    return Response.json({ value: await call(...args) });
  };
}
