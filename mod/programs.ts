/**
 * Finds programs on PATH the way a shell would, without running anything.
 * The main thread resolves the node service's programs once, at start, so
 * that worker can be granted read access to exactly those files.
 */
export function resolveProgram(name: string, searchPath: string | undefined): string | undefined {
  for (const dir of (searchPath ?? "").split(":")) {
    if (dir === "") continue;
    const candidate = `${dir.replace(/\/+$/, "")}/${name}`;
    try {
      const info = Deno.statSync(candidate);
      if (info.isFile && info.mode !== null && (info.mode & 0o111) !== 0) return candidate;
    } catch {
      // Missing, or a directory this process may not read: keep looking.
    }
  }
  return undefined;
}
