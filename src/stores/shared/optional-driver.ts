/**
 * Loads a store's driver, an optional peer dependency, on first use. A missing package becomes one line that says
 * what to install; a package that is present but fails to load (a native build for another Node.js ABI) keeps its
 * own error. The `import()` stays at the caller, literal, so bundlers can see it.
 */
export async function loadDriver<T>(store: string, className: string, pkg: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!String((error as { code?: string }).code).includes("MODULE_NOT_FOUND")) throw error;
    throw new Error(`[oncely] [${store}] ${className} needs the "${pkg}" package: npm install ${pkg}`);
  }
}
