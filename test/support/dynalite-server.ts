/**
 * dynalite (a local DynamoDB on in-memory LevelDB) in a process of its own (started by `startDynalite`, dynalite.ts).
 * Not in a test's process: dynalite parses every condition expression on one event loop (about 7 ms of CPU per
 * claim here), and there it would hold up the test's own event loop, and every timing the test measures with it.
 * Sends `{ port }` over IPC once listening; exits when the parent disconnects.
 */
import { once } from "node:events";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";

// dynalite ships no types.
const dynalite = createRequire(import.meta.url)("dynalite") as (options: object) => Server;
const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
server.listen(0, "127.0.0.1");
await once(server, "listening");
process.on("disconnect", () => process.exit(0));
process.send!({ port: (server.address() as AddressInfo).port });
