import { describeStreaming } from "./streaming.js";
import { streamingExpress, streamingFastify, streamingFetch, streamingHono, streamingNode } from "./streaming-apps.js";

describeStreaming("node:http", streamingNode);
describeStreaming("express", streamingExpress);
describeStreaming("fastify", streamingFastify);
describeStreaming("fetch", streamingFetch);
describeStreaming("hono", streamingHono);
