/** The renter's and operator's dashboard, served from memory by the HTTP worker. */
export { DASHBOARD_ASSETS_URL, type DashboardAssets, loadDashboardAssets } from "./assets.ts";
export { CONTENT_SECURITY_POLICY, dashboardRoutes } from "./routes.ts";
export { DASHBOARD_PATH, SCRIPT_PATH, STYLE_PATH } from "./page.ts";
