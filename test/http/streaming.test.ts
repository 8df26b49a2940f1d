import { describeStreaming } from "./streaming.js";
import { STREAMING_ADAPTERS } from "./streaming-apps.js";

for (const [name, start] of STREAMING_ADAPTERS) describeStreaming(name, start);
