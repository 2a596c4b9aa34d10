// Workflow: a high-throughput API. A small HTTP server hashes text two ways: GET /pool/hash
// hands each request to a ProcessPool of warm Node workers, GET /executor/hash runs it as a
// function task on the Executor. A load loop on loopback sends each route 2,000 requests,
// 16 in flight, checks every answer and reports requests/s.
//   npm run example:api
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runyard } from 'runyard';

const home = await mkdtemp(join(tmpdir(), 'runyard-example-'));
const handler = join(import.meta.dirname, 'scripts', 'hash-handler.mjs');
const requests = 2000;
const inFlight = 16;
const rounds = 20;

function hash({ text, rounds }) {
  let digest = String(text);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest('hex');
  return { digest, pid: process.pid };
}

const yard = await Runyard.open({ home, concurrency: 4, maintenance: false });
let server;
const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
try {
  // Two warm workers; the first requests would otherwise pay their start.
  const pool = yard.pools.node('hash', { handler: `${handler}#hash`, size: 2 });
  await Promise.all([0, 1].map(() => yard.execute({ pool: 'hash', payload: { text: 'warm' } })));

  server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const payload = { text: url.searchParams.get('text') ?? '', rounds };
    try {
      let answer;
      if (url.pathname === '/pool/hash') {
        // A `{ pool, payload }` task: execute() picks the pooled pattern.
        answer = await yard.execute({ pool: 'hash', payload, name: 'hash' });
      } else if (url.pathname === '/executor/hash') {
        // A single function task given to execute() would be a simple run; the Executor is
        // the part that runs many at once under the concurrency limit.
        const result = await yard.executor.submit({ fn: () => hash(payload), name: 'hash' });
        if (!result.ok) throw new Error(result.error.message);
        answer = result.value;
      } else {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error.message));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  console.log(`listening on 127.0.0.1:${port}`);

  function get(path) {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function load(route) {
    let next = 0;
    let good = 0;
    const latencies = [];
    const pids = new Set();
    const errors = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < requests) {
          const text = `video-${next++}`;
          const sent = performance.now();
          try {
            const { status, body } = await get(`${route}?text=${text}`);
            latencies.push(performance.now() - sent);
            const answer = status === 200 ? JSON.parse(body) : undefined;
            if (answer?.digest === hash({ text, rounds }).digest) {
              good++;
              pids.add(answer.pid);
            } else errors.push(`${status} ${body}`);
          } catch (error) {
            errors.push(error.message);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const at = (q) => latencies[Math.floor(q * (latencies.length - 1))].toFixed(1);
    console.log(
      `${route.padEnd(15)} ${good}/${requests} ok, ${Math.round(requests / seconds)} requests/s, ` +
        `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, served by ${pids.size} process(es)`,
    );
    for (const error of errors.slice(0, 3)) console.log(`  error: ${error}`);
    return good;
  }

  const pooled = await load('/pool/hash');
  const executed = await load('/executor/hash');
  const { workers, completed, failed, restarts } = pool.stats;
  console.log(
    `pool: ${workers} workers, ${completed} tasks, ${failed} failed, ${restarts} restarts`,
  );
  const { succeeded, failed: executorFailed } = yard.executor.stats;
  console.log(`executor: ${succeeded} tasks succeeded, ${executorFailed} failed`);

  if (pooled !== requests || executed !== requests) process.exitCode = 1;
} finally {
  agent.destroy();
  if (server) await new Promise((resolve) => server.close(resolve));
  await yard.close();
  await rm(home, { recursive: true, force: true });
}
