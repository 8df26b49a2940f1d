import type { StoreAggregate } from "../../core/store.js";

/**
 * The aggregate query the SQL stores share: one pass over the table that reads no body, counting live rows by state
 * with conditional COUNTs, what expires by `soon` and what expired, and the MIN and MAX creation time of live rows.
 * `now` and `soon` are SQL expressions in the dialect (its clock, or a bound parameter); `created` is how the dialect
 * reads `created_at` as epoch ms.
 */
export function aggregateSql(table: string, now: string, soon: string, created = "created_at"): string {
  const live = `expires_at > ${now}`;
  const count = (condition: string) => `COUNT(CASE WHEN ${condition} THEN 1 END)`;
  return `SELECT ${count(`${live} AND state = 'in-flight'`)} AS in_flight,
      ${count(`${live} AND state = 'released'`)} AS released,
      ${count(`${live} AND state = 'completed'`)} AS completed,
      ${count(`${live} AND expires_at <= ${soon}`)} AS expiring,
      ${count(`expires_at <= ${now}`)} AS expired,
      MIN(CASE WHEN ${live} THEN ${created} END) AS oldest,
      MAX(CASE WHEN ${live} THEN ${created} END) AS newest
    FROM ${table}`;
}

/** The row `aggregateSql` answers; drivers give counts as numbers, strings or bigints. */
export interface AggregateRow {
  in_flight: unknown;
  released: unknown;
  completed: unknown;
  expiring: unknown;
  expired: unknown;
  oldest: unknown;
  newest: unknown;
}

export function toAggregate(row: AggregateRow): StoreAggregate {
  const result: StoreAggregate = {
    states: { "in-flight": Number(row.in_flight), released: Number(row.released), completed: Number(row.completed) },
    expiringSoon: Number(row.expiring),
    expired: Number(row.expired),
  };
  if (row.oldest !== null && row.oldest !== undefined) result.oldest = Number(row.oldest);
  if (row.newest !== null && row.newest !== undefined) result.newest = Number(row.newest);
  return result;
}
