/**
 * The dashboard's one HTML page: a shell that loads the bundled script and
 * style (whose URLs carry the bundle's version, so a rebuilt bundle is never
 * mixed with a cached one); the script draws everything else. Without a
 * bundle, a page that says what to run.
 */

/** Where the dashboard is served. */
export const DASHBOARD_PATH = "/ui";
export const SCRIPT_PATH = `${DASHBOARD_PATH}/app.js`;
export const STYLE_PATH = `${DASHBOARD_PATH}/app.css`;
const TITLE = "DBC dashboard";

export function dashboardPage(version: string): string {
  const query = `?v=${encodeURIComponent(version)}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${TITLE}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${STYLE_PATH}${query}">
<script type="module" src="${SCRIPT_PATH}${query}"></script>
</head>
<body>
<noscript>The dashboard needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;
}

export function notBuiltPage(reason: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${TITLE}</title></head>
<body>
<h1>${TITLE}</h1>
<p>${escapeHtml(reason)}</p>
</body>
</html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
