/** The events the streaming holder tests stream: a model's tokens as server-sent events with ids. */
export const SSE_EVENTS = Array.from({ length: 20 }, (_, index) => `id: ${index}\ndata: token-${index}\n\n`);

/** How many events the holder that dies writes before it stops. */
export const HELD = 5;
