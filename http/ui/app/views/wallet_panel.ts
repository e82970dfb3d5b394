/**
 * The header's wallet: connect a key typed in (a dev account on a local
 * network, a seed or a mnemonic) or an account of a browser extension; then
 * its address and ledger balance, and a way to let go of it.
 */
import { type Dashboard, errorText } from "../context.ts";
import { field, h, replace } from "../dom.ts";
import { formatAmount, shortId } from "../format.ts";
import {
  DEV_ACCOUNTS,
  extensionWallets,
  type KeyType,
  type Wallet,
  walletFromSecret,
} from "../wallet.ts";

/** The name the dashboard gives itself when an extension asks who wants access. */
const APP_NAME = "DBC dashboard";

export function walletPanel(dashboard: Dashboard): HTMLElement {
  const panel = h("div", { class: "wallet" });
  const draw = () =>
    replace(
      panel,
      dashboard.wallet ? connected(dashboard, dashboard.wallet) : connectForm(dashboard),
    );
  dashboard.onWalletChange(draw);
  draw();
  return panel;
}

function connected(dashboard: Dashboard, wallet: Wallet): HTMLElement {
  const balance = h("span", { class: "balance" }, "balance …");
  dashboard.api.balance(wallet.address).then(
    (account) => (balance.textContent = `balance ${formatAmount(account.balance)}`),
    (error) => (balance.textContent = `balance unknown (${errorText(error)})`),
  );
  return h(
    "div",
    { class: "connected", "data-address": wallet.address },
    h("span", { class: "label" }, wallet.label),
    " ",
    h("code", { title: wallet.address }, shortId(wallet.address, 6, 6)),
    " ",
    balance,
    " ",
    h("button", { onclick: () => dashboard.setWallet(undefined) }, "Disconnect"),
  );
}

function connectForm(dashboard: Dashboard): HTMLElement {
  const status = h("span", { class: "status" });
  const form = h(
    "form",
    { class: "connect" },
    h("input", {
      name: "secret",
      type: "password",
      list: "dev-accounts",
      autocomplete: "off",
      placeholder: "//Alice, a seed or a mnemonic",
      "aria-label": "wallet key",
    }),
    h(
      "datalist",
      { id: "dev-accounts" },
      ...DEV_ACCOUNTS.map((name) => h("option", { value: `//${name}` })),
    ),
    h(
      "select",
      { name: "type", "aria-label": "key type" },
      h("option", { value: "sr25519" }, "sr25519"),
      h("option", { value: "ed25519" }, "ed25519"),
    ),
    h("button", { type: "submit", class: "primary" }, "Use key"),
    h(
      "button",
      { type: "button", class: "extension", onclick: () => void fromExtension() },
      "Extension…",
    ),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    try {
      dashboard.setWallet(
        await walletFromSecret(field(form, "secret"), field(form, "type") as KeyType),
      );
    } catch (error) {
      status.textContent = errorText(error);
    }
  });
  const fromExtension = async () => {
    status.textContent = "asking the extension…";
    try {
      const wallets = await extensionWallets(APP_NAME);
      if (wallets.length === 0) {
        status.textContent = "the extension offers no sr25519 or ed25519 account to this page";
        return;
      }
      const choose = h(
        "select",
        { "aria-label": "extension account" },
        ...wallets.map((wallet, index) =>
          h("option", { value: index }, `${wallet.label} ${shortId(wallet.address, 6, 6)}`)
        ),
      );
      replace(
        status,
        choose,
        h("button", {
          type: "button",
          onclick: () => dashboard.setWallet(wallets[Number(choose.value)]),
        }, "Use"),
      );
    } catch (error) {
      status.textContent = errorText(error);
    }
  };
  return form;
}
