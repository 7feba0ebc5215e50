// The edge router's own code (infra/edge/router.js) answering the multi-region rehearsal, one JSON
// line per request on stdin: {"kvs": {region: value}, "headers": {name: value}, "uri": "/v1/..."}
// -> {"origin": region, "uri": uri, "route": x-switchboard-edge-route}. The `cloudfront` module is
// stubbed as in router.test.mjs; the KeyValueStore is the line's `kvs` (the prober's store).
// Usage: node scripts/rehearsal_router.mjs '{"regions": [...], "defaultRegion": "..."}'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, '..', 'infra', 'edge', 'router.js'), 'utf8');
const STUB = `
export const state = { selected: [], store: {} };
export default {
  kvs() {
    return { async get(key) {
      if (!(key in state.store)) { throw new Error('key not found'); }
      return state.store[key];
    } };
  },
  selectRequestOriginById(id) { state.selected.push(id); },
};
`;
const dir = mkdtempSync(join(tmpdir(), 'rehearsal-router-'));
writeFileSync(join(dir, 'cloudfront-stub.mjs'), STUB);
const code = source
  .replace("import cf from 'cloudfront';", "import cf, { state } from './cloudfront-stub.mjs';")
  .replace('__SWITCHBOARD_CONFIG__', process.argv[2]) + '\nexport { handler, state };\n';
writeFileSync(join(dir, 'router.mjs'), code);
const { handler, state } = await import(pathToFileURL(join(dir, 'router.mjs')).href);
rmSync(dir, { recursive: true, force: true }); // loaded: the files are no longer needed

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const input = JSON.parse(line);
  const headers = {};
  for (const [k, v] of Object.entries(input.headers || {})) headers[k] = { value: v };
  state.store = input.kvs || {};
  state.selected = [];
  const request = await handler({ request: { method: 'POST', uri: input.uri, headers } });
  const route = request.headers['x-switchboard-edge-route'];
  process.stdout.write(JSON.stringify({ origin: state.selected.at(-1), uri: request.uri, route: route ? route.value : null }) + '\n');
}
