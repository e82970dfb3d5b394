/**
 * The engine side of a chaos run: the GPU nodes' containers live in the
 * test machine's Podman (scripts/system/podman_setup.sh), labelled with the
 * node's id by the node itself. What a run leaves there (a node that did not
 * come back to delete its containers) is removed by that label at the end.
 */
import { DockerEngine } from "../../node_service/mod.ts";

/** The engine the GPU nodes run containers on, as the system tests set it up. */
export const DOCKER_SOCKET = "/run/dbc-podman/podman.sock";

/** Removes every engine container of the GPU nodes `nodeIds`; how many there were. */
export async function sweepContainers(nodeIds: readonly string[]): Promise<number> {
  const engine = new DockerEngine(DOCKER_SOCKET);
  let removed = 0;
  try {
    for (const id of nodeIds) {
      for (const container of await engine.listContainers([`dbc.node=${id}`])) {
        await engine.removeContainer(container.id);
        removed++;
      }
    }
  } finally {
    engine.close();
  }
  return removed;
}
