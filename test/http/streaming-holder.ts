// A process that holds a streaming route's record and then dies: it serves `POST /stream` (node:http, SqliteStore on
// the file in argv[2], lease in argv[3]), writes the first `HELD` events of a stream and then waits forever, so the
// parent can kill it mid-stream. It sends its URL to the parent over IPC once it listens.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { withIdempotency } from "../../src/adapters/node/index.js";
import { createIdempotency } from "../../src/index.js";
import { SqliteStore } from "../../src/stores/sqlite/index.js";
import { HELD, SSE_EVENTS } from "./streaming-holder-events.js";

const [path, lease] = process.argv.slice(2);
const idem = createIdempotency({ store: new SqliteStore({ path: path! }), lease: Number(lease), logger: false });
const handler = withIdempotency(
  idem,
  async (_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    for (const event of SSE_EVENTS.slice(0, HELD)) res.write(event);
    await new Promise(() => {});
  },
  { stream: true },
);
const server = createServer((req, res) => void handler(req, res));
server.listen(0, "127.0.0.1", () => {
  process.send!(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
