import { StoreError } from "../../core/errors.js";

/**
 * Thrown when a store's driver, an optional peer dependency, is not installed: by the store on first use, and by
 * the CLI when it opens a store URL. A `StoreError`, so whatever maps store failures (HTTP 503, the CLI's exit
 * code 3) treats it like a store that cannot be reached; its message says what to install.
 */
export class StoreDriverMissingError extends StoreError {
  override readonly name = "StoreDriverMissingError";
  override readonly code = "store_driver_missing";
  /** The npm package to install. */
  readonly packageName: string;

  /**
   * @param className The store's class, for the message (`RedisStore`).
   * @param options.note Said after the package's name, when there is more to it (`on Node.js 20 (...)`).
   */
  constructor(store: string, className: string, packageName: string, options: { cause?: unknown; note?: string } = {}) {
    super(store, "open", "failed", { cause: options.cause });
    const note = options.note ? ` ${options.note}` : "";
    this.message = `[oncely] [${store}] ${className} needs the "${packageName}" package${note}: npm install ${packageName}`;
    this.packageName = packageName;
  }
}

/** Whether an `import()` failed because the package is not there, rather than present and broken. */
export function isModuleNotFound(error: unknown): boolean {
  return String((error as { code?: string } | undefined)?.code).includes("MODULE_NOT_FOUND");
}

/**
 * Loads a store's driver on first use. A missing package becomes a `StoreDriverMissingError`; a package that is
 * present but fails to load (a native build for another Node.js ABI) keeps its own error. The `import()` stays at
 * the caller, literal, so bundlers can see it.
 */
export async function loadDriver<T>(store: string, className: string, pkg: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!isModuleNotFound(error)) throw error;
    throw new StoreDriverMissingError(store, className, pkg, { cause: error });
  }
}
