import { connect } from "node:net";

/** Set by `.ci/run`: a missing service is then a failure, never a skip, so CI cannot pass by skipping. */
export const servicesRequired = process.env.ONCELY_REQUIRE_SERVICES === "1";

export const services = {
  postgres: {
    host: "127.0.0.1",
    port: 5432,
    url: process.env.ONCELY_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  },
  mysql: { host: "127.0.0.1", port: 3306, url: process.env.ONCELY_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test" },
  redis: { host: "127.0.0.1", port: 6379, url: process.env.ONCELY_REDIS_URL ?? "redis://127.0.0.1:6379" },
} as const;

export type ServiceName = keyof typeof services;

/**
 * Resolves whether the service's port accepts connections. When it does not: throws under
 * `ONCELY_REQUIRE_SERVICES=1`, and otherwise prints one line saying which tests are skipped.
 */
export async function serviceAvailable(name: ServiceName): Promise<boolean> {
  const { host, port } = services[name];
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
  if (reachable) return true;
  if (servicesRequired) throw new Error(`${name} is not reachable at ${host}:${port} and ONCELY_REQUIRE_SERVICES=1`);
  console.warn(`[oncely tests] ${name} not reachable at ${host}:${port}: skipping its tests`);
  return false;
}
