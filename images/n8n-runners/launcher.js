#!/usr/bin/env node
// zixly offline kit: a JavaScript stand-in for n8n's Go task-runner-launcher (n8nio/runners).
// Contract kept: N8N_RUNNERS_AUTH_TOKEN + N8N_RUNNERS_TASK_BROKER_URI; health on
// :N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT/healthz; argv names runner types ("javascript");
// waits for the broker, trades the auth token for a grant token (POST <broker>/runners/auth),
// starts @n8n/task-runner and starts it again (with a new grant) whenever it exits.
'use strict';
const http = require('node:http');
const { spawn } = require('node:child_process');

const broker = (process.env.N8N_RUNNERS_TASK_BROKER_URI || 'http://127.0.0.1:5679').replace(/\/$/, '');
const authToken = process.env.N8N_RUNNERS_AUTH_TOKEN || '';
const healthPort = Number(process.env.N8N_RUNNERS_LAUNCHER_HEALTH_CHECK_PORT || 5680);
const startScript = process.env.N8N_RUNNERS_START_SCRIPT
  || '/usr/local/lib/n8n/node_modules/@n8n/task-runner/dist/start.js';
const log = (msg) => console.log(`${new Date().toISOString()} [launcher:js] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let child = null;
let stopping = false;

function parseTypes(argv) {
  const types = argv.length ? argv : ['javascript'];
  for (const t of types) {
    if (t !== 'javascript' && t !== 'js') log(`WARNING: runner type "${t}" is not available in the offline kit; skipped`);
  }
  return types.some((t) => t === 'javascript' || t === 'js');
}

async function brokerReady() {
  try {
    const res = await fetch(`${broker}/healthz`);
    return res.ok;
  } catch {
    return false;
  }
}

async function grantToken() {
  const res = await fetch(`${broker}/runners/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: authToken }),
  });
  if (!res.ok) throw new Error(`auth failed: HTTP ${res.status}`);
  const body = await res.json();
  const token = body?.data?.token ?? body?.token;
  if (!token) throw new Error('auth answer has no token');
  return token;
}

function runRunner(token) {
  const env = { ...process.env, N8N_RUNNERS_GRANT_TOKEN: token, N8N_RUNNERS_TASK_BROKER_URI: broker };
  delete env.N8N_RUNNERS_AUTH_TOKEN;
  const flags = process.env.N8N_RUNNERS_INSECURE_MODE === 'true'
    ? [] : ['--disallow-code-generation-from-strings', '--disable-proto=delete'];
  return new Promise((resolve) => {
    child = spawn(process.execPath, [...flags, startScript], { env, stdio: 'inherit' });
    log(`started JS task runner pid ${child.pid}`);
    child.on('exit', (code, signal) => {
      log(`JS task runner exited (code ${code}, signal ${signal})`);
      child = null;
      resolve();
    });
  });
}

async function main() {
  if (!authToken) {
    console.error('N8N_RUNNERS_AUTH_TOKEN is required');
    process.exit(1);
  }
  const js = parseTypes(process.argv.slice(2));
  http.createServer((req, res) => {
    const ok = req.url === '/healthz' || req.url === '/healthz/';
    res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
    res.end(ok ? '{"status":"ok"}' : '{"status":"not found"}');
  }).listen(healthPort, '0.0.0.0', () => log(`health check on :${healthPort}/healthz`));
  if (!js) {
    log('no runner type this launcher can start; idling');
    return;
  }
  while (!stopping) {
    if (!(await brokerReady())) {
      await sleep(1000);
      continue;
    }
    try {
      await runRunner(await grantToken());
    } catch (err) {
      log(`cannot start runner: ${err.message}`);
    }
    if (!stopping) await sleep(1000);
  }
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    stopping = true;
    if (child) {
      child.once('exit', () => process.exit(0));
      child.kill(sig);
    } else {
      process.exit(0);
    }
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
