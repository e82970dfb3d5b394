/**
 * A minimal XML writer: elements from a name, attributes and children, with
 * every attribute value and text node escaped. Nothing reaches the output
 * unescaped, so a value can never open or close an element of its own.
 *
 * @example
 * ```ts
 * xmlElement("source", { file: "/a&b.qcow2" }); // <source file="/a&amp;b.qcow2"/>
 * ```
 */

/** An attribute left `undefined` is omitted; numbers are written in decimal. */
export type XmlAttributes = Readonly<Record<string, string | number | undefined>>;

/** A child is an already-built element (see {@link xmlElement}) or text to escape. */
export type XmlChild = XmlNode | string;

/** Built XML; only {@link xmlElement} makes one, so raw strings cannot pass for markup. */
export type XmlNode = { readonly xml: string };

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  // A reader turns a tab or line break in an attribute into a space, and a CR in text into a
  // line feed; written as references they read back as they were (and the indentation that
  // xmlElement adds at line breaks never lands inside a value).
  "\t": "&#9;",
  "\n": "&#10;",
  "\r": "&#13;",
};

/**
 * What XML 1.0 cannot carry at all, escaped or not: most control characters, U+FFFE and U+FFFF,
 * and lone surrogates (which UTF-8 cannot encode: they would be written as U+FFFD).
 */
// deno-lint-ignore no-control-regex
const NOT_XML_TEXT_CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f]/;
const NOT_XML_TEXT_OTHER =
  /[\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether XML can carry `text` (escaped); {@link escapeXml} throws for text it cannot. */
export function isXmlText(text: string): boolean {
  return !NOT_XML_TEXT_CONTROL.test(text) && !NOT_XML_TEXT_OTHER.test(text);
}

/** Escapes text for use in an attribute value or a text node. */
export function escapeXml(text: string): string {
  if (!isXmlText(text)) {
    throw new Error(`control character (or another XML cannot carry) in ${JSON.stringify(text)}`);
  }
  return text.replace(/[&<>"'\t\n\r]/g, (char) => ESCAPES[char]!);
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

export function xmlElement(
  name: string,
  attributes: XmlAttributes = {},
  children: readonly (XmlChild | undefined | false)[] = [],
): XmlNode {
  if (!NAME.test(name)) throw new Error(`not an XML name: ${JSON.stringify(name)}`);
  let open = `<${name}`;
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    if (!NAME.test(key)) throw new Error(`not an XML attribute name: ${JSON.stringify(key)}`);
    open += ` ${key}="${escapeXml(String(value))}"`;
  }
  const kept = children.filter((child): child is XmlChild =>
    child !== undefined && child !== false
  );
  if (kept.length === 0) return { xml: `${open}/>` };
  const inner = kept.map((child) => (typeof child === "string" ? escapeXml(child) : child.xml));
  const nested = kept.some((child) => typeof child !== "string");
  if (!nested) return { xml: `${open}>${inner.join("")}</${name}>` };
  const indented = inner.join("\n").split("\n").map((line) => `  ${line}`).join("\n");
  return { xml: `${open}>\n${indented}\n</${name}>` };
}
