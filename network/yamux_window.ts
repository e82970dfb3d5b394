/**
 * Yamux window updates once half a stream's receive window is used, not after every frame.
 *
 * Why: @chainsafe/libp2p-yamux 8 tops the receive window up after each data frame it takes in,
 * so every link message made its receiver send a WINDOW_UPDATE frame back: one more Noise
 * encryption and socket write on the receiver, and one more wake-up, decryption and frame on the
 * sender, per message. On a request link that doubles the frames of each call; on a relay it
 * costs a write per broadcast. The protocol's reference (hashicorp/yamux) and go-yamux send an
 * update only once at least half the window has been consumed, or when it carries a flag (the
 * stream's SYN or ACK), and so does this. The sender is never held up: it still has half its
 * window when the update goes, and a frame is at most a quarter of the initial window.
 *
 * The library offers no option for it, so its stream class's method is wrapped, once per process.
 */
import { StreamState, YamuxStream } from "@chainsafe/libp2p-yamux/stream";

/** The fields the wrapper reads (private in the library's types, plain fields at run time). */
type WindowState = {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
};
type SendWindowUpdate = (this: WindowState) => void;

let installed = false;

/** Makes every yamux stream of this process send window updates at half the window. */
export function windowUpdatesAtHalf(): void {
  if (installed) return;
  installed = true;
  const prototype = YamuxStream.prototype as unknown as { sendWindowUpdate: SendWindowUpdate };
  const original = prototype.sendWindowUpdate;
  prototype.sendWindowUpdate = function (this: WindowState) {
    // An established stream has no flag to send: only the consumed window matters. Any other
    // state (opening, acknowledging, paused) goes the library's way.
    if (
      this.state === StreamState.Established &&
      this.recvWindow - this.recvWindowCapacity < this.recvWindow / 2
    ) return;
    original.call(this);
  };
}
