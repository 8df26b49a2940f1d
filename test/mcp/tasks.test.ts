import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { ToolTaskHandler } from "@modelcontextprotocol/sdk/experimental/tasks/interfaces.js";
import { InMemoryTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { type CallToolResult, CallToolResultSchema, CreateTaskResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createIdempotency, MemoryStore } from "../../src/index.js";
import { guardTools, idempotencyContext, REPLAYED_META } from "../../src/mcp/index.js";
import { until } from "../support/until.js";
import { httpClient, rpcError } from "./support/clients.js";
import { type ServeOptions, serveMcp } from "./support/http-server.js";
import { closedAfterEach } from "./support/opened.js";

// Task-augmented tool calls (`params.task`, the SDK's experimental tasks) with the real SDK client and server over
// Streamable HTTP. Their answer is a task handle; losing it must not make the retry start a second task. The test
// plays the task's background worker through the task store (completing, failing or cancelling the task), as the
// tool's own worker would.
const open = closedAfterEach();
const taskStores: InMemoryTaskStore[] = [];
afterEach(() => {
  for (const store of taskStores.splice(0)) store.cleanup();
});

async function setUp(serve: ServeOptions = { mode: "stateless", json: true }) {
  const idempotency = createIdempotency({ store: new MemoryStore(), logger: false });
  const taskStore = new InMemoryTaskStore();
  taskStores.push(taskStore);
  const created: { taskId: string; count: number; key?: string }[] = [];
  const calls = { createTask: 0 };
  const make = () => {
    const server = new McpServer(
      { name: "batches", version: "1.0.0" },
      { capabilities: { tasks: { requests: { tools: { call: {} } } } }, taskStore },
    );
    guardTools(server, { idempotency });
    const inputSchema = { count: z.number().int() };
    const handler: ToolTaskHandler<typeof inputSchema> = {
      createTask: async ({ count }, extra) => {
        calls.createTask += 1;
        if (count < 0) throw new Error("a batch cannot be negative");
        const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl, pollInterval: 10 });
        created.push({ taskId: task.taskId, count, key: idempotencyContext(extra)?.key });
        return { task };
      },
      getTask: (_args, extra) => extra.taskStore.getTask(extra.taskId),
      getTaskResult: (_args, extra) => extra.taskStore.getTaskResult(extra.taskId) as Promise<CallToolResult>,
    };
    server.experimental.tasks.registerToolTask(
      "send_batch",
      { inputSchema, execution: { taskSupport: "optional" } },
      handler,
    );
    // The same handler given later, through the registered tool's update(): it is wrapped as one registered directly.
    server.experimental.tasks
      .registerToolTask(
        "send_batch_later",
        { inputSchema, execution: { taskSupport: "optional" } },
        {
          ...handler,
          createTask: async () => {
            throw new Error("replaced by update()");
          },
        },
      )
      .update({ callback: handler as never });
    return server;
  };
  const served = await serveMcp(make, serve);
  open.push(served);
  const connect = async () => {
    const client = await httpClient(served.url);
    open.push(client);
    return client;
  };
  /** The background worker finishing a task. */
  const finish = (taskId: string, status: "completed" | "failed", text: string) =>
    taskStore.storeTaskResult(taskId, status, {
      content: [{ type: "text", text }],
      ...(status === "failed" ? { isError: true } : {}),
    });
  return { served, taskStore, created, calls, connect, client: await connect(), finish };
}

/** A task-augmented `tools/call` of `send_batch`, as the SDK client sends one (`params.task`). */
const sendBatch = (client: Client, count: number, key: string, ttl = 60_000) =>
  client.request(
    { method: "tools/call", params: { name: "send_batch", arguments: { count }, _meta: { idempotencyKey: key } } },
    CreateTaskResultSchema,
    { task: { ttl } },
  );

describe("guardTools: a keyed task-augmented tools/call creates one task per key", () => {
  it("answers the retry of a lost answer with the same task, marked as a replay, as it stands now", async () => {
    const { served, client, connect, created, finish } = await setUp();
    served.loseNextAnswer();
    await expect(sendBatch(client, 3, "batch-1")).rejects.toThrow();
    expect(served.lost).toBe(1);
    expect(created).toHaveLength(1);
    const taskId = created[0]!.taskId;

    const retry = await sendBatch(await connect(), 3, "batch-1");
    expect(retry.task).toMatchObject({ taskId, status: "working" });
    expect(retry._meta?.[REPLAYED_META]).toBe(true);
    expect(created).toHaveLength(1);

    await finish(taskId, "completed", "sent 3");
    const later = await sendBatch(await connect(), 3, "batch-1");
    expect(later.task).toMatchObject({ taskId, status: "completed" });
    const agent = await connect();
    expect(await agent.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)).toMatchObject({
      content: [{ type: "text", text: "sent 3" }],
    });
    expect(created).toHaveLength(1);
  });

  it("stateful: the retry in the session gets the task; a new session gets an error, as the SDK's task store hides the task", async () => {
    const { served, client, connect, created } = await setUp({ mode: "stateful", json: true });
    served.loseNextAnswer();
    await expect(sendBatch(client, 3, "session-bound")).rejects.toThrow();
    const retry = await sendBatch(client, 3, "session-bound");
    expect(retry.task.taskId).toBe(created[0]!.taskId);
    expect(retry._meta?.[REPLAYED_META]).toBe(true);
    const elsewhere = await rpcError(sendBatch(await connect(), 3, "session-bound"));
    expect(elsewhere.data.status).toBe(410);
    expect(created).toHaveLength(1);
  });

  it("creates one task for 50 concurrent calls with one key, and answers all 50 with it", async () => {
    const { client, created } = await setUp();
    const answers = await Promise.all(Array.from({ length: 50 }, () => sendBatch(client, 5, "burst")));
    expect(created).toHaveLength(1);
    expect(new Set(answers.map((answer) => answer.task.taskId))).toEqual(new Set([created[0]!.taskId]));
    expect(answers.filter((answer) => answer._meta?.[REPLAYED_META] === true)).toHaveLength(49);
  });

  it("gives the task's createTask the call's idempotency context", async () => {
    const { client, created } = await setUp();
    await sendBatch(client, 1, "with-context");
    expect(created[0]!.key).toBe("with-context");
  });

  it("refuses the key with other arguments, or for a call without params.task, with the mismatch error", async () => {
    const { client, created } = await setUp();
    await sendBatch(client, 3, "batch-2");
    const other = await rpcError(sendBatch(client, 4, "batch-2"));
    expect(other.code).toBe(-32602);
    expect(other.data).toEqual({ type: "urn:oncely:problem:fingerprint-mismatch", status: 422 });
    // The same tool and arguments without task augmentation expect a CallToolResult, not the task handle kept.
    const plain = await rpcError(
      client.callTool({ name: "send_batch", arguments: { count: 3 }, _meta: { idempotencyKey: "batch-2" } }),
    );
    expect(plain.data.type).toBe("urn:oncely:problem:fingerprint-mismatch");
    expect(created).toHaveLength(1);
  });

  it("keeps a failed or cancelled task as the key's outcome: the retry gets it and starts no other", async () => {
    const { client, connect, created, finish } = await setUp();
    const failing = await sendBatch(client, 1, "fails");
    await finish(failing.task.taskId, "failed", "the mail relay refused the batch");
    const failedRetry = await sendBatch(await connect(), 1, "fails");
    expect(failedRetry.task).toMatchObject({ taskId: failing.task.taskId, status: "failed" });

    const cancelled = await sendBatch(client, 2, "cancelled");
    await (await connect()).experimental.tasks.cancelTask(cancelled.task.taskId);
    const cancelledRetry = await sendBatch(await connect(), 2, "cancelled");
    expect(cancelledRetry.task).toMatchObject({ taskId: cancelled.task.taskId, status: "cancelled" });
    expect(cancelledRetry._meta?.[REPLAYED_META]).toBe(true);
    expect(created).toHaveLength(2);
  });

  it("answers a retry after the task expired with an error, and does not start the tool again", async () => {
    const { client, created, taskStore, finish } = await setUp();
    const first = await sendBatch(client, 7, "expires", 50);
    await finish(first.task.taskId, "completed", "sent 7");
    await until(async () => (await taskStore.getTask(first.task.taskId)) === null, "the task to expire");
    const error = await rpcError(sendBatch(client, 7, "expires", 50));
    expect(error.code).toBe(-32602);
    expect(error.data).toEqual({ type: "urn:oncely:problem:response-not-kept", status: 410 });
    expect(error.message).toContain(
      `The task this idempotency key created (${first.task.taskId}) is no longer available`,
    );
    expect(error.message).toContain("The tool was not run again");
    expect(created).toHaveLength(1);
  });

  it("releases the key when createTask throws: no task exists, and the retry runs it again", async () => {
    const { client, created, calls } = await setUp();
    const error = await rpcError(sendBatch(client, -1, "negative"));
    expect(error.code).toBe(-32602);
    await rpcError(sendBatch(client, -1, "negative"));
    expect(calls.createTask).toBe(2);
    expect(created).toHaveLength(0);
  });

  it.each(["send_batch", "send_batch_later"])(
    "keeps the final result of a call without params.task to an optional task tool (%s: the server polled the task)",
    async (tool) => {
      const { client, connect, created, finish } = await setUp();
      const call = (c: Client) =>
        c.callTool({ name: tool, arguments: { count: 9 }, _meta: { idempotencyKey: "polled" } });
      const first = call(client);
      await until(() => created.length === 1, "the task to be created");
      await finish(created[0]!.taskId, "completed", "sent 9");
      expect((await first).content).toEqual([{ type: "text", text: "sent 9" }]);
      const retry = await call(await connect());
      expect(retry._meta?.[REPLAYED_META]).toBe(true);
      expect(retry.content).toEqual([{ type: "text", text: "sent 9" }]);
      expect(created).toHaveLength(1);
    },
  );
});
