// The bearer token the page sends when the service requires authentication (docs/security.md).
// A web mail front end hands it over in the page URL's fragment, `…/#token=<JWT>`: a fragment is
// never sent to a server, so the token reaches no access log and no Referer header. The page
// moves it into sessionStorage (this tab only, gone when the tab closes) and removes it from the
// address bar at once; setting a new fragment later (a refreshed token) replaces it. Without a
// token (the demo, anonymous on loopback) no authorization header is sent.

import type { Interceptor } from "@connectrpc/connect";

const KEY = "mailtips.token";

/** Moves a `token` in the URL fragment into sessionStorage and out of the address bar. */
function takeFromFragment(): void {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token === null) return;
  if (token.trim() === "") sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, token.trim());
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}

takeFromFragment();
addEventListener("hashchange", takeFromFragment);

/** Adds `authorization: Bearer <token>` to every call while the page holds a token. */
export const bearer: Interceptor = (next) => async (req) => {
  const token = sessionStorage.getItem(KEY);
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};
