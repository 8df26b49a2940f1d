import type BetterSqlite3 from "better-sqlite3";
import { loadDriver } from "../shared/optional-driver.js";

// The two ways the SQLite store reaches SQLite, behind the few calls it makes: the runtime's built-in `node:sqlite`
// (Node.js 22.13+) and the better-sqlite3 package (the only way on Node.js 20). Both are synchronous and run the
// same SQL; they differ in how a transaction starts, how a busy database is reported and how a BLOB comes back.

/** The SQLite drivers `SqliteStore` runs on. */
export type SqliteDriverName = "node:sqlite" | "better-sqlite3";

export const DRIVER_NAMES: readonly SqliteDriverName[] = ["node:sqlite", "better-sqlite3"];

/** A value SQLite binds: both drivers accept these. */
export type SqlValue = string | number | bigint | null | Uint8Array;
/** A statement's parameters: positional values, or one object of named ones (`@id` is `{ id }`). */
export type SqlParams = SqlValue | Record<string, SqlValue>;

/** A prepared statement, as the store runs it on either driver. */
export interface SqliteStatement {
  /** Runs the statement. */
  run(...params: SqlParams[]): {
    /** How many rows it wrote. */
    changes: number;
  };
  /** The first row, or `undefined`. */
  get(...params: SqlParams[]): unknown;
  /** Every row. */
  all(...params: SqlParams[]): unknown[];
}

/** One open database, as the store uses it. */
export interface SqliteConnection {
  readonly driver: SqliteDriverName;
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  /** Runs `body` in one `BEGIN IMMEDIATE` transaction: rolled back if it throws. */
  transaction<T>(body: () => T): T;
  /** Whether a driver error is SQLite's "database is locked" (`SQLITE_BUSY`) after the busy timeout. */
  isBusy(error: unknown): boolean;
  close(): void;
}

/**
 * The part of `node:sqlite`'s `DatabaseSync` the store calls. Declared here because the project's Node.js types are
 * those of Node.js 20, which has no `node:sqlite`.
 */
export interface NodeSqliteDatabase {
  /** Prepares a `StatementSync`. */
  prepare(sql: string): NodeSqliteStatement;
  /** Runs SQL that returns no rows. */
  exec(sql: string): void;
  /** Closes the database. */
  close(): void;
}

/** The part of `node:sqlite`'s `StatementSync` the store calls. */
export interface NodeSqliteStatement extends SqliteStatement {
  /** Whether integers come back as `bigint`; the store turns it off (every value it reads fits a number). */
  setReadBigInts(enabled: boolean): void;
  /** Whether named parameters the statement does not use are ignored; the store turns it on. */
  setAllowUnknownNamedParameters(enabled: boolean): void;
}

interface NodeSqliteModule {
  DatabaseSync: new (path: string) => NodeSqliteDatabase;
}

/** A database the user opened: better-sqlite3's has `pragma` and `transaction`, `DatabaseSync` has neither. */
export function detectDriver(database: object): SqliteDriverName {
  const candidate = database as Partial<BetterSqlite3.Database>;
  return typeof candidate.pragma === "function" && typeof candidate.transaction === "function"
    ? "better-sqlite3"
    : "node:sqlite";
}

export function wrapDatabase(database: object, driver: SqliteDriverName): SqliteConnection {
  return driver === "node:sqlite"
    ? nodeSqlite(database as NodeSqliteDatabase)
    : betterSqlite3(database as BetterSqlite3.Database);
}

/** Opens a database file: the driver loaded, only the file is left to open (which may fail on its own). */
export type OpenDatabase = (path: string) => SqliteConnection;

/**
 * Loads the named driver, or the one this runtime suits best: `node:sqlite` from Node.js 24, where it loads without
 * a warning; on Node.js 20 and 22, better-sqlite3 when it is installed (Node.js 22's `node:sqlite` prints an
 * ExperimentalWarning when loaded), else `node:sqlite` where the runtime has it.
 *
 * @throws {Error} in one line naming what to install (or which Node.js to run) when the driver is not there
 */
export async function loadSqliteDriver(driver: SqliteDriverName | undefined): Promise<OpenDatabase> {
  const chosen = driver ?? (runtimeMajor() >= 24 && builtinSqlite() ? "node:sqlite" : undefined);
  if (chosen === "node:sqlite") {
    const builtin = builtinSqlite();
    if (!builtin) {
      throw new Error(
        `[oncely] [sqlite] SqliteStore's driver "node:sqlite" needs Node.js 22.13 or newer (this is ${process.version})`,
      );
    }
    return (path) => nodeSqlite(new builtin.DatabaseSync(path));
  }
  if (chosen === "better-sqlite3") {
    const module = await loadDriver("sqlite", "SqliteStore", "better-sqlite3", () => import("better-sqlite3"));
    return (path) => betterSqlite3(new (constructorOf(module))(path));
  }
  let missing: { code?: string } | undefined;
  const module = await import("better-sqlite3").catch((error: { code?: string }) => {
    if (!String(error.code).includes("MODULE_NOT_FOUND")) throw error; // present but broken: its own error says more
    missing = error;
  });
  if (module) return (path) => betterSqlite3(new (constructorOf(module))(path));
  const builtin = builtinSqlite();
  if (!builtin) {
    const message =
      '[oncely] [sqlite] SqliteStore needs the "better-sqlite3" package on Node.js 20 (22.13+ has SQLite built in): npm install better-sqlite3';
    // The import's code goes along, so a caller can tell a missing package from a broken one (as the CLI does).
    throw Object.assign(new Error(message, { cause: missing }), { code: missing?.code });
  }
  return (path) => nodeSqlite(new builtin.DatabaseSync(path));
}

function constructorOf(module: object): typeof BetterSqlite3 {
  return (module as { default?: typeof BetterSqlite3 }).default ?? (module as typeof BetterSqlite3);
}

function builtinSqlite(): NodeSqliteModule | undefined {
  // getBuiltinModule answers undefined where the module does not exist (Node.js 20, or 22 before 22.13).
  return process.getBuiltinModule?.("node:sqlite") as NodeSqliteModule | undefined;
}

function runtimeMajor(): number {
  return Number(process.versions.node.split(".")[0]);
}

function nodeSqlite(db: NodeSqliteDatabase): SqliteConnection {
  return {
    driver: "node:sqlite",
    prepare(sql) {
      const statement = db.prepare(sql);
      // Like better-sqlite3: named parameters a statement does not use are ignored, integers come back as numbers.
      statement.setAllowUnknownNamedParameters(true);
      statement.setReadBigInts(false);
      return statement;
    },
    exec: (sql) => db.exec(sql),
    transaction(body) {
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = body();
        db.exec("COMMIT");
        return result;
      } catch (error) {
        // SQLite may have rolled back already (a busy COMMIT does not, an I/O error does): then ROLLBACK fails.
        try {
          db.exec("ROLLBACK");
        } catch {}
        throw error;
      }
    },
    // node:sqlite reports SQLite's result code in `errcode`, possibly extended (SQLITE_BUSY_SNAPSHOT is 517).
    isBusy: (error) => ((error as { errcode?: number }).errcode ?? 0) % 256 === 5,
    close: () => db.close(),
  };
}

function betterSqlite3(db: BetterSqlite3.Database): SqliteConnection {
  return {
    driver: "better-sqlite3",
    prepare(sql) {
      const statement = db.prepare(sql);
      // A user's database may return BigInts by default; every value the store reads fits in a JS number.
      statement.safeIntegers(false);
      return statement as SqliteStatement;
    },
    exec: (sql) => void db.exec(sql),
    transaction: (body) => db.transaction(body).immediate(),
    isBusy: (error) => Boolean((error as { code?: string }).code?.startsWith("SQLITE_BUSY")),
    close: () => db.close(),
  };
}
