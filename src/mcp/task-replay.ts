import type { RequestTaskStore } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type { CreateTaskResult } from "@modelcontextprotocol/sdk/types.js";
import { ResponseNotKeptError } from "../core/errors.js";
import { REPLAYED_META } from "./wire.js";

/**
 * Task-augmented calls (`tools/call` with `params.task`, the SDK's experimental tasks). Their answer is a
 * `CreateTaskResult`, the handle of a task that runs on after the answer is sent. The handle is the call's outcome: if
 * it is lost, a retry that created a second task would run the tool twice. So the guard keeps the handle like any
 * result, and a retry gets the same task, as it stands now.
 */

/** The SDK's code for a task the task store does not know (`RequestTaskStore.getTask` throws it). */
const INVALID_PARAMS = -32602;

/** True when a task-augmented call's handler created a task (anything else, such as an error result, is released). */
export function isCreatedTask(result: unknown): result is CreateTaskResult {
  const task = (result as { task?: { taskId?: unknown } } | null | undefined)?.task;
  return typeof task?.taskId === "string";
}

/**
 * The answer to a retry of a task-augmented call: the task its first call created, with its status as the task store
 * has it now (working, completed, failed or cancelled: a failed or cancelled task is the key's outcome, and is not
 * started again), marked as a replay.
 * @throws {ResponseNotKeptError} when the task store no longer has the task (its TTL passed, or the store shows tasks
 *   only to the session that created them): the tool is not run again for this key
 */
export async function replayedTask(
  stored: CreateTaskResult,
  taskStore: RequestTaskStore | undefined,
): Promise<CreateTaskResult> {
  let { task } = stored;
  // Without a task store the server's own handler keeps its tasks; the stored handle is all there is to answer.
  if (taskStore) {
    try {
      task = await taskStore.getTask(task.taskId);
    } catch (error) {
      if ((error as { code?: unknown }).code !== INVALID_PARAMS) throw error;
      throw new ResponseNotKeptError(
        `The task this idempotency key created (${task.taskId}) is no longer available: its result expired, or the ` +
          "task store shows it only to the session that created it. The tool was not run again; use a new key for a new call",
      );
    }
  }
  return { ...stored, task, _meta: { ...stored._meta, [REPLAYED_META]: true } };
}
