import type { Route, RequestContext } from '../route.js';
import { PAGE_CSP, PAGE_HTML } from './page.js';

const BODY = Buffer.from(PAGE_HTML, 'utf8');

const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-length': BODY.length,
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** The page: no API key needed to load it (it holds none); its own calls send the key its user enters. */
async function sendPage({ req, res }: RequestContext): Promise<void> {
  res.writeHead(200, HEADERS);
  res.end(req.method === 'HEAD' ? undefined : BODY);
}

/** GET /: the web UI (chat, sampling controls, a live metrics panel); see page.ts. */
export const webPageRoute: Route = { method: 'GET', path: '/', isAuthRequired: false, handle: sendPage };

/** HEAD /: the page's headers. */
export const webPageHeadRoute: Route = { method: 'HEAD', path: '/', isAuthRequired: false, handle: sendPage };
