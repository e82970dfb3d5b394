/**
 * Wallet signatures as requests carry them: hex text in every form the node
 * takes (64 bytes, a 65-byte MultiSignature, with or without `0x`), made by
 * real ed25519 and sr25519 keys over raw or `<Bytes>`-wrapped messages, then
 * edited (a byte of the message, of the signature, the key, the scheme
 * byte), and any text. Contract: `parseWalletSignature` never throws and
 * yields 64 bytes or nothing; `verifyWalletSignature` never rejects; it
 * accepts every signature as made, naming its scheme and wrapping, and no
 * edited one.
 */
import fc from "fast-check";
import { parseWalletSignature, verifyWalletSignature } from "../../../mod/mod.ts";
import { wrapBytes } from "../../../mod/wallet/signature.ts";
import { mutatedText, oddString } from "../mutate.ts";
import { expect, type FuzzTarget } from "../target.ts";
import { ed25519Wallet, type FuzzWallet, sr25519Wallet, toHex } from "../wallets.ts";

type Edit = "none" | "message" | "signature" | "key" | "scheme";
type Input = {
  wallet: number;
  message: Uint8Array;
  wrapped: boolean;
  form: "bare" | "multi" | "upper";
  edit: Edit;
  at: number;
  text: string;
  randomKey: Uint8Array;
  noble: boolean;
};

const SCHEME_BYTE = { ed25519: 0, sr25519: 1 } as const;

export const target: FuzzTarget<Input> = {
  name: "wallet.signature",
  about: "signatures parse without throwing and verify exactly when made as given",
  property: () => {
    const wallets: FuzzWallet[] = [ed25519Wallet(1), sr25519Wallet(1), ed25519Wallet(2)];
    const hexText = fc.uint8Array({ minLength: 64, maxLength: 65 }).map(toHex);
    return {
      arbitrary: fc.record({
        wallet: fc.nat(wallets.length - 1),
        message: fc.oneof(
          { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 4 },
          { arbitrary: fc.uint8Array({ maxLength: 40 }).map(wrapBytes), weight: 1 },
        ),
        wrapped: fc.boolean(),
        form: fc.constantFrom("bare" as const, "multi" as const, "upper" as const),
        edit: fc.constantFrom<Edit>("none", "none", "message", "signature", "key", "scheme"),
        at: fc.nat(),
        text: fc.oneof(oddString(140), mutatedText(hexText), hexText),
        randomKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
        noble: fc.boolean(),
      }),
      async check(input) {
        const parsedText = parseWalletSignature(input.text);
        if (parsedText) {
          expect(parsedText.bytes.length === 64, `parsed ${parsedText.bytes.length} bytes`);
        }
        const wallet = wallets[input.wallet]!;
        // As polkadot-js's u8aWrapBytes: a message that is wrapped already is signed as it is.
        const wraps = input.wrapped && !isWrapped(input.message);
        const signedBytes = wraps ? wrapBytes(input.message) : input.message;
        let signature = wallet.sign(signedBytes);
        let message = input.message;
        let key = wallet.publicKey;
        let schemeByte: number = SCHEME_BYTE[wallet.scheme];
        switch (input.edit) {
          case "message":
            message = message.length === 0
              ? Uint8Array.of(input.at & 0xff)
              : message.map((byte, index) => index === input.at % message.length ? byte ^ 1 : byte);
            break;
          case "signature":
            signature = signature.map((byte, index) =>
              index === input.at % 64 ? byte ^ 0x10 : byte
            );
            break;
          case "key":
            key = wallets[(input.wallet + 1) % wallets.length]!.publicKey;
            break;
          case "scheme":
            schemeByte = 1 - schemeByte;
            break;
        }
        const text = input.form === "bare"
          ? toHex(signature)
          : input.form === "multi"
          ? toHex(Uint8Array.of(schemeByte, ...signature))
          : `0X${toHex(Uint8Array.of(schemeByte, ...signature)).slice(2).toUpperCase()}`;
        const parsed = parseWalletSignature(text);
        expect(parsed !== undefined, `a signature in the ${input.form} form did not parse`);
        const options = { ed25519: input.noble ? "noble" as const : "webcrypto" as const };
        const check = await verifyWalletSignature(key, message, parsed, options);
        const edited = input.edit !== "none" && !(input.edit === "scheme" && input.form === "bare");
        if (edited) {
          expect(!check.ok, `a signature edited in its ${input.edit} verified`);
        } else {
          expect(check.ok, "a signature as made did not verify");
          expect(check.scheme === wallet.scheme, `verified as ${check.scheme}`);
          expect(check.wrapped === wraps, "the wrapping is misreported");
        }
        // Any key and any signature: an answer, never a rejection.
        if (parsedText) await verifyWalletSignature(input.randomKey, message, parsedText, options);
      },
    };
  },
};

function isWrapped(message: Uint8Array): boolean {
  const text = new TextDecoder().decode(message);
  return text.startsWith("<Bytes>") && text.endsWith("</Bytes>");
}
