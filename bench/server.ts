import { type Framework, startApp } from "./apps.js";

// Runs one benchmark app in its own process, so the load generator does not share its event loop.
const [framework, guarded, port] = process.argv.slice(2);
const server = startApp(framework as Framework, guarded === "oncely", Number(port));
server.on("listening", () => process.send?.("ready"));
process.on("disconnect", () => process.exit(0));
