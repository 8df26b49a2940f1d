// The one export of workerd's built-in "cloudflare:workers" module the runtime tests and the Worker example use.
declare module "cloudflare:workers" {
  export abstract class DurableObject<Env = unknown> {
    protected ctx: unknown;
    protected env: Env;
    constructor(ctx: unknown, env: Env);
  }
}
