import type { Route } from '../route.js';

/** GET /health: 200 while the server takes requests; 503 once the engine cannot serve any (restart it). */
export const healthRoute: Route = {
  method: 'GET',
  path: '/health',
  isAuthRequired: false,
  async handle({ res, engine }) {
    const deadReason = engine.deadReason;
    if (deadReason !== undefined) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'dead', error: { message: deadReason, type: 'engine_dead' } }));
      return;
    }
    const stats = engine.stats();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', num_requests_running: stats.numRunning, num_requests_waiting: stats.numWaiting }));
  },
};
