import { describeStreaming } from "./streaming.js";
import { streamingExpress, streamingFetch, streamingHono, streamingNode } from "./streaming-apps.js";

describeStreaming("node:http", streamingNode);
describeStreaming("express", streamingExpress);
describeStreaming("fetch", streamingFetch);
describeStreaming("hono", streamingHono);
