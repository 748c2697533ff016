import type { Route } from '../route.js';

/** GET /metrics: Prometheus text format. */
export const metricsRoute: Route = {
  method: 'GET',
  path: '/metrics',
  isAuthRequired: false,
  async handle({ res, metrics }) {
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(text);
  },
};
