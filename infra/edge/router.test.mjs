// Unit tests of the CloudFront Function with a stub of the `cloudfront` module: node --test
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, 'router.js'), 'utf8');

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

async function load(config) {
  const dir = mkdtempSync(join(tmpdir(), 'router-'));
  writeFileSync(join(dir, 'cloudfront-stub.mjs'), STUB);
  const code = source
    .replace("import cf from 'cloudfront';", "import cf, { state } from './cloudfront-stub.mjs';")
    .replace('__SWITCHBOARD_CONFIG__', JSON.stringify(config)) + '\nexport { handler, state };\n';
  const file = join(dir, 'router.mjs');
  writeFileSync(file, code);
  return import(pathToFileURL(file).href);
}

const CONFIG = { regions: ['us-east-1', 'eu-west-1', 'ap-southeast-2'], defaultRegion: 'us-east-1' };

function event(headers = {}, uri = '/v1/chat/completions') {
  const h = {};
  for (const [k, v] of Object.entries(headers)) h[k] = { value: v };
  return { request: { method: 'POST', uri, headers: h } };
}

test('preference header is honoured when the region is deployed and healthy', async () => {
  const { handler, state } = await load(CONFIG);
  state.store = { 'us-east-1': 'healthy', 'eu-west-1': 'healthy', 'ap-southeast-2': 'healthy' };
  const out = await handler(event({ 'x-switchboard-region-preference': 'ap-southeast-2', 'cloudfront-viewer-country': 'DE' }));
  assert.deepEqual(state.selected, ['ap-southeast-2']);
  assert.equal(out.headers['x-switchboard-edge-route'].value, 'ap-southeast-2');
});

test('preference for an undeployed region is ignored', async () => {
  const { handler, state } = await load(CONFIG);
  await handler(event({ 'x-switchboard-region-preference': 'sa-east-1', 'cloudfront-viewer-country': 'FR' }));
  assert.deepEqual(state.selected, ['eu-west-1']);
});

test('nearest region by country', async () => {
  const { handler, state } = await load(CONFIG);
  await handler(event({ 'cloudfront-viewer-country': 'DE' }));
  await handler(event({ 'cloudfront-viewer-country': 'nz' }));
  await handler(event({ 'cloudfront-viewer-country': 'BR' }));
  assert.deepEqual(state.selected, ['eu-west-1', 'ap-southeast-2', 'us-east-1']);
});

test('unhealthy region is skipped, preference included', async () => {
  const { handler, state } = await load(CONFIG);
  state.store = { 'eu-west-1': 'unhealthy', 'us-east-1': 'healthy' };
  await handler(event({ 'cloudfront-viewer-country': 'IE' }));
  await handler(event({ 'x-switchboard-region-preference': 'eu-west-1' }));
  assert.deepEqual(state.selected, ['us-east-1', 'us-east-1']);
});

test('unknown or missing country goes to the default region', async () => {
  const { handler, state } = await load({ ...CONFIG, defaultRegion: 'eu-west-1' });
  await handler(event({ 'cloudfront-viewer-country': 'ZZ' }));
  await handler(event({}));
  assert.deepEqual(state.selected, ['eu-west-1', 'eu-west-1']);
});

test('default unhealthy falls to the next deployed region; all unhealthy still routes', async () => {
  const { handler, state } = await load(CONFIG);
  state.store = { 'us-east-1': 'unhealthy' };
  await handler(event({}));
  state.store = { 'us-east-1': 'unhealthy', 'eu-west-1': 'unhealthy', 'ap-southeast-2': 'unhealthy' };
  const out = await handler(event({}));
  assert.deepEqual(state.selected, ['eu-west-1', 'us-east-1']);
  assert.equal(out.headers['x-switchboard-edge-route'].value, 'us-east-1;all-unhealthy');
});

test('a /regions/<region>/ prefix pins the region and is stripped', async () => {
  const { handler, state } = await load(CONFIG);
  state.store = { 'eu-west-1': 'unhealthy' };
  const out = await handler(event({}, '/regions/eu-west-1/v1/models'));
  assert.deepEqual(state.selected, ['eu-west-1']);
  assert.equal(out.uri, '/v1/models');
  const other = await handler(event({}, '/regions/mars-1/v1/models'));
  assert.equal(other.uri, '/regions/mars-1/v1/models');
});

test('a region the prober marked unhealthy is skipped; force-healthy is served', async () => {
  const { handler, state } = await load(CONFIG);
  state.store = { 'us-east-1': 'healthy', 'eu-west-1': 'probe-unhealthy', 'ap-southeast-2': 'force-healthy' };
  await handler(event({ 'cloudfront-viewer-country': 'DE' }));
  await handler(event({ 'cloudfront-viewer-country': 'AU' }));
  assert.deepEqual(state.selected, ['us-east-1', 'ap-southeast-2']);
});

test('Singapore, Japan and India go to the nearest deployed region (Sydney), not the US', async () => {
  const { handler, state } = await load(CONFIG);
  for (const country of ['SG', 'JP', 'IN']) {
    await handler(event({ 'cloudfront-viewer-country': country }));
  }
  assert.deepEqual(state.selected, ['ap-southeast-2', 'ap-southeast-2', 'ap-southeast-2']);
  state.store = { 'ap-southeast-2': 'probe-unhealthy' };
  await handler(event({ 'cloudfront-viewer-country': 'SG' }));
  assert.equal(state.selected.at(-1), 'us-east-1'); // evacuated: the default region
});
