/**
 * polkadot-js reads variables of its own (`POLKADOTJS_DISABLE_ESM_CJS_WARNING`,
 * `DEBUG`, `DEBUG_MAX`) through `process.env` while its modules load; a thread
 * without access to them (the node service may read only its few) would fail
 * to start. Through this guard a variable the thread may not read reads as
 * unset, and the ones it may read are read as before. Every file of this
 * folder that imports polkadot-js imports this first.
 */
import process from "node:process";

const real = process.env;
// The proxy's target is an empty object: a trap on the real one would still be checked against
// it (the engine asks it for the property after the trap), and that check would throw.
const guarded = new Proxy({} as NodeJS.ProcessEnv, {
  get(_target, key) {
    try {
      return Reflect.get(real, key);
    } catch {
      return undefined;
    }
  },
  has(_target, key) {
    try {
      return Reflect.has(real, key);
    } catch {
      return false;
    }
  },
  set(_target, key, value) {
    return Reflect.set(real, key, value);
  },
});
Object.defineProperty(process, "env", {
  value: guarded,
  configurable: true,
  enumerable: true,
  writable: true,
});
