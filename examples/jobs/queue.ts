/** A job as the queue hands it to a worker; `attempt` counts deliveries. */
export interface Job<T> {
  id: string;
  payload: T;
  attempt: number;
}

/**
 * A tiny in-process queue with at-least-once delivery, as SQS, RabbitMQ, Pub/Sub or BullMQ give: a job counts as
 * done (acked) only when the worker returns; a worker that throws or dies before that gets the job again.
 */
export class InProcessQueue<T> {
  readonly #waiting: Job<T>[] = [];
  /** Jobs that failed `maxAttempts` times. */
  readonly dead: Job<T>[] = [];

  constructor(readonly maxAttempts = 5) {}

  publish(id: string, payload: T): void {
    this.#waiting.push({ id, payload, attempt: 0 });
  }

  /** Delivers jobs one by one until none is left; a job whose worker throws goes back to the end of the queue. */
  async drain(worker: (job: Job<T>) => Promise<unknown>): Promise<void> {
    for (let job = this.#waiting.shift(); job; job = this.#waiting.shift()) {
      job.attempt++;
      try {
        await worker(job); // returning is the ack
      } catch {
        (job.attempt < this.maxAttempts ? this.#waiting : this.dead).push(job);
      }
    }
  }
}
