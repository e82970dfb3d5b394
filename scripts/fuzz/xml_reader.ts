/**
 * A strict reader of the XML that the node writes (elements, attributes in
 * double quotes, text, the five predefined entities; no comments, CDATA or
 * declarations): it throws on anything that is not well-formed XML 1.0,
 * including characters XML cannot carry at all, and returns the tree with
 * every attribute and text unescaped, so a target can check that each value
 * reads back as it was given.
 */

export type XmlElement = { name: string; attributes: Record<string, string>; children: XmlNode[] };
export type XmlNode = XmlElement | string;

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*/;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
/** Characters outside XML 1.0's Char production: most controls, lone surrogates, U+FFFE/U+FFFF. */
// deno-lint-ignore no-control-regex
const NOT_XML_CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f]/;
const NOT_XML_OTHER =
  /[\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export class XmlSyntaxError extends Error {
  constructor(message: string, readonly at: number) {
    super(`${message} at ${at}`);
    this.name = "XmlSyntaxError";
  }
}

/** The document element of `text`; throws {@link XmlSyntaxError} when it is not well formed. */
export function readXml(text: string): XmlElement {
  const bad = NOT_XML_CONTROL.exec(text) ?? NOT_XML_OTHER.exec(text);
  if (bad) throw new XmlSyntaxError(`character U+${bad[0].charCodeAt(0).toString(16)}`, bad.index);
  let at = 0;
  const fail = (message: string): never => {
    throw new XmlSyntaxError(message, at);
  };
  // As a conforming reader does: line ends become LF, then in an attribute each literal tab or
  // LF becomes a space; references are decoded after, so what they stand for is kept.
  const unescape = (raw: string, inAttribute: boolean): string => {
    if (raw.includes("<")) fail("a raw '<'");
    if (inAttribute && raw.includes('"')) fail("a raw quote in an attribute");
    let normal = raw.replace(/\r\n?/g, "\n");
    if (inAttribute) normal = normal.replace(/[\t\n]/g, " ");
    return normal.replace(/&([^;]*);|&/g, (whole, entity: string | undefined) => {
      const code = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(entity ?? "");
      if (code) return String.fromCodePoint(parseInt(code[1] ?? code[2]!, code[1] ? 16 : 10));
      if (entity === undefined || !(entity in ENTITIES)) fail(`an unknown entity ${whole}`);
      return ENTITIES[entity!]!;
    });
  };
  const element = (): XmlElement => {
    if (text[at] !== "<") fail("expected an element");
    at++;
    const name = NAME.exec(text.slice(at))?.[0] ?? fail("expected a name");
    at += name.length;
    const attributes: Record<string, string> = {};
    for (;;) {
      const space = /^\s*/.exec(text.slice(at))![0];
      at += space.length;
      if (text.startsWith("/>", at)) {
        at += 2;
        return { name, attributes, children: [] };
      }
      if (text[at] === ">") {
        at++;
        break;
      }
      if (space === "") fail("expected a space before an attribute");
      const key = NAME.exec(text.slice(at))?.[0] ?? fail("expected an attribute name");
      at += key.length;
      if (!text.startsWith('="', at)) fail('expected ="');
      at += 2;
      const end = text.indexOf('"', at);
      if (end === -1) fail("an attribute without its closing quote");
      if (key in attributes) fail(`attribute ${key} given twice`);
      attributes[key] = unescape(text.slice(at, end), true);
      at = end + 1;
    }
    const children: XmlNode[] = [];
    for (;;) {
      if (at >= text.length) fail(`element ${name} is not closed`);
      if (text.startsWith("</", at)) {
        at += 2;
        if (!text.startsWith(name, at)) fail(`</${name}> expected`);
        at += name.length;
        if (text[at] !== ">") fail(`</${name}> expected`);
        at++;
        return { name, attributes, children };
      }
      if (text[at] === "<") {
        children.push(element());
        continue;
      }
      const end = text.indexOf("<", at);
      const raw = text.slice(at, end === -1 ? text.length : end);
      if (raw.includes(">") && raw.includes("]]>")) fail("']]>' in text");
      children.push(unescape(raw, false));
      at += raw.length;
    }
  };
  const root = element();
  if (text.slice(at).trim() !== "") fail("text after the document element");
  return root;
}

/** The first element named `name` under `root` (depth first), or `undefined`. */
export function findElement(root: XmlElement, name: string): XmlElement | undefined {
  if (root.name === name) return root;
  for (const child of root.children) {
    if (typeof child === "string") continue;
    const found = findElement(child, name);
    if (found) return found;
  }
  return undefined;
}

/** The text directly inside `element`. */
export function textOf(element: XmlElement | undefined): string | undefined {
  return element?.children.filter((child) => typeof child === "string").join("");
}
