/**
 * libp2p's logger (weald, supports-color) reads the environment while its
 * modules load, and Object.keys(process.env) needs access to every variable.
 * The network worker may read none, so before those modules load it gets an
 * empty environment of its own. Import this first (worker.ts does).
 */
import os from "node:os";
import process from "node:process";

Object.defineProperty(process, "env", {
  value: {},
  configurable: true,
  enumerable: true,
  writable: true,
});

/**
 * Listening on 0.0.0.0 makes libp2p list the machine's interfaces to announce
 * them, which needs `--allow-sys`. Peers learn our address from the link they
 * see (observed IP, handshake port), not from libp2p's announcements, so the
 * worker does without that permission and libp2p sees no interfaces.
 */
const real = os.networkInterfaces.bind(os);
os.networkInterfaces = () => {
  try {
    return real();
  } catch {
    return {};
  }
};
