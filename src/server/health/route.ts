import type { Route } from '../route.js';

/** GET /health: 200 while the server takes requests. */
export const healthRoute: Route = {
  method: 'GET',
  path: '/health',
  isAuthRequired: false,
  async handle({ res, engine }) {
    const stats = engine.stats();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', num_requests_running: stats.numRunning, num_requests_waiting: stats.numWaiting }));
  },
};
