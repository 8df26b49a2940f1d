// A node:http app guarded by a MySqlStore on a machine where "mysql2" was never installed: a resolve hook hides the
// package, as npm would have left it out. Prints the port it listens on; what oncely logs goes to its stderr.
import { register } from "node:module";

const hideMysql2 = `export async function resolve(specifier, context, next) {
  if (specifier.startsWith("mysql2")) throw Object.assign(new Error("not found"), { code: "ERR_MODULE_NOT_FOUND" });
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hideMysql2)}`);

const { createServer } = await import("node:http");
const { createIdempotency } = await import("../../src/index.js");
const { withIdempotency } = await import("../../src/adapters/node/index.js");
const { MySqlStore } = await import("../../src/stores/mysql/index.js");

const idem = createIdempotency({ store: new MySqlStore({ uri: "mysql://root@127.0.0.1:3306/test" }) });
const server = createServer(
  withIdempotency(idem, (_req, res) => {
    res.statusCode = 201;
    res.end("created");
  }),
);
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  if (address && typeof address === "object") process.stdout.write(`${address.port}\n`);
});
