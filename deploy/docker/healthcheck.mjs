#!/usr/bin/env node
// The container's HEALTHCHECK: exits 0 when the hub's /health answers {"status":"ok"} within 4 s, 1 otherwise.
//   VIGIL_HEALTH_URL       default http://127.0.0.1:8080/health (use https://… when api.tls is set)
//   VIGIL_HEALTH_INSECURE  1: do not verify the API's certificate (its names rarely include 127.0.0.1)
// Plain node:http(s), no dependencies: node:20-slim has no curl or wget.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const url = new URL(process.env.VIGIL_HEALTH_URL ?? 'http://127.0.0.1:8080/health');
const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
const req = request(url, { timeout: 4000, rejectUnauthorized: process.env.VIGIL_HEALTH_INSECURE !== '1' }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (d) => (body += d));
  res.on('end', () => {
    let ok = false;
    try {
      ok = res.statusCode === 200 && JSON.parse(body).status === 'ok';
    } catch {
      // not JSON: unhealthy
    }
    if (!ok) process.stderr.write(`unhealthy: HTTP ${res.statusCode} ${body.slice(0, 200)}\n`);
    process.exit(ok ? 0 : 1);
  });
});
req.on('timeout', () => req.destroy(new Error('no answer within 4 s')));
req.on('error', (err) => {
  process.stderr.write(`unhealthy: ${err.message}\n`);
  process.exit(1);
});
req.end();
