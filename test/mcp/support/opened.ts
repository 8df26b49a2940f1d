import { afterEach } from "vitest";

/** Something a test opens and must close: an SDK client, a served MCP endpoint. */
export interface Closable {
  close(): Promise<void>;
}

/**
 * The list a test file pushes what it opens onto; everything on it is closed after each test, whether the test
 * passed or not.
 */
export function closedAfterEach(): Closable[] {
  const opened: Closable[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((item) => item.close()));
  });
  return opened;
}
