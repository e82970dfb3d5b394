/**
 * A few lines of DOM building: elements from a tag, attributes and children,
 * text always set as text (names and messages come from other nodes and are
 * never parsed as HTML).
 */

export type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | EventListener | undefined>;

/** `h("button", { class: "primary", onclick: go }, "Rent")`: an element. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.replace(/^on/, ""), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  element.append(...nodes(children));
  return element;
}

function nodes(children: Child[]): Node[] {
  return children.filter((child) => child !== null && child !== undefined && child !== false)
    .map((child) => child instanceof Node ? child : document.createTextNode(String(child)));
}

/** Replaces what `parent` holds. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren(...nodes(children));
}

/** A value from a form field, trimmed. */
export function field(form: HTMLFormElement, name: string): string {
  const element = form.elements.namedItem(name);
  if (element instanceof HTMLInputElement && element.type === "checkbox") {
    return element.checked ? "on" : "";
  }
  return element instanceof HTMLInputElement || element instanceof HTMLSelectElement ||
      element instanceof HTMLTextAreaElement
    ? element.value.trim()
    : "";
}

/** A labelled form control. */
export function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  return h("label", {}, h("span", {}, text), control);
}
