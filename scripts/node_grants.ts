/**
 * The permission flags `deno task node` starts the node with, one a line, for
 * scripts/node.sh. It reads the configuration exactly as main.ts does (the
 * same arguments, the `DBC_*` environment, the `--config` file, relative
 * paths against the same working directory) and prints the grants of
 * `nodeProcessPermissions`: the directories the configuration names, wherever
 * they are, and nothing else.
 *
 * A configuration main.ts would refuse, and `--help` or `--version`, get the
 * grants of the built-in defaults (and of the config file named, if any), so
 * main.ts itself says what is wrong: there is one place that does. The one
 * refusal made here is a path Deno's flags cannot carry (a ','): exit 2.
 *
 *   deno run --allow-read --allow-env scripts/node_grants.ts [node flags...]
 */
import {
  ConfigError,
  loadConfig,
  nodePaths,
  nodeProcessPermissions,
  parseCommandLine,
  permissionFlags,
  serviceProgramPaths,
} from "../mod/mod.ts";

/** The checkout main.ts runs from. */
export const PROJECT_ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");

export type GrantInputs = {
  args: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  projectRoot: string;
  readTextFile?: (path: string) => string;
};

/**
 * The `deno run` permission flags for the node these arguments and this
 * environment configure. Throws a {@link ConfigError} only for a path the
 * flags cannot carry; any other configuration error yields the defaults'
 * grants, for main.ts to report the error.
 */
export function nodeGrants(input: GrantInputs): string[] {
  const read = input.readTextFile ?? ((path: string) => Deno.readTextFileSync(path));
  // The file parseCommandLine asks for is the config file, even when its contents are then refused.
  let askedFor: string | undefined;
  const readTextFile = (path: string) => {
    askedFor = path;
    return read(path);
  };
  const programPaths = serviceProgramPaths(input.env.PATH);
  let line;
  try {
    line = parseCommandLine({ args: input.args, env: input.env, cwd: input.cwd, readTextFile });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
  }
  if (line?.action === "run") {
    const { config, sources, configFile } = line.loaded;
    return permissionFlags(nodeProcessPermissions({
      config,
      paths: nodePaths(config.data_dir),
      programPaths,
      projectRoot: input.projectRoot,
      configFile,
      sources,
    }));
  }
  const { config } = loadConfig({ args: [], env: {}, cwd: input.cwd });
  return permissionFlags(nodeProcessPermissions({
    config,
    paths: nodePaths(config.data_dir),
    programPaths,
    projectRoot: input.projectRoot,
    // So main.ts reads the same file and reports what is wrong with it, not a missing permission.
    configFile: askedFor !== undefined && !/[,\n\r\0]/.test(askedFor) ? askedFor : undefined,
  }));
}

if (import.meta.main) {
  try {
    const flags = nodeGrants({
      args: Deno.args,
      env: Deno.env.toObject(),
      cwd: Deno.cwd(),
      projectRoot: PROJECT_ROOT,
    });
    console.log(flags.join("\n"));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // As main.ts reports a bad configuration, with the same exit code.
    console.error(`${error.message}\n(run with --help for the list of settings)`);
    Deno.exit(2);
  }
}
