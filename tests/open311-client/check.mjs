#!/usr/bin/env node
// Drives an Open311 GeoReport v2 endpoint with a stock client library (npm `open311`, used as its
// README documents) and validates the raw JSON of every call against the GeoReport v2 JSON Schemas
// in ./schemas.
//
//   node check.mjs --endpoint http://127.0.0.1:PORT/open311/v2/ --api-key KEY \
//                  --service-code CODE [--jurisdiction ID]
//
// Prints one line per step; exits 1 with a message on the first failure.
import { createRequire } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, isDeepStrictEqual } from 'node:util';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

/** The whole run may take this long (the library has no timeouts of its own). */
const DEADLINE_MS = 60_000;

let step = 'start';
function fail(message) {
  console.error(`FAIL ${step}: ${message}`);
  process.exit(1);
}
// The library throws from inside its HTTP callbacks (e.g. on a refused connection): report it
// as a failure of the step under way rather than a bare stack trace.
process.on('uncaughtException', (e) => fail(`uncaught ${e && e.stack ? e.stack : e}\n  (the open311 library throws this when the endpoint cannot be reached)`));
process.on('unhandledRejection', (e) => fail(`unhandled ${e && e.stack ? e.stack : e}`));
const deadline = setTimeout(() => fail(`no answer within ${DEADLINE_MS / 1000} s`), DEADLINE_MS);

let args;
try {
  args = parseArgs({
    options: {
      endpoint: { type: 'string' },
      'api-key': { type: 'string' },
      'service-code': { type: 'string' },
      jurisdiction: { type: 'string' },
    },
    strict: true,
  }).values;
} catch (e) {
  fail(e.message);
}
for (const name of ['endpoint', 'api-key', 'service-code']) {
  if (!args[name]) {
    fail(`--${name} is required (usage: check.mjs --endpoint URL --api-key KEY --service-code CODE [--jurisdiction ID])`);
  }
}
const endpoint = args.endpoint.endsWith('/') ? args.endpoint : `${args.endpoint}/`;
const apiKey = args['api-key'];
const serviceCode = args['service-code'];
const jurisdiction = args.jurisdiction;

// --- Libraries -----------------------------------------------------------------------------------

step = 'load';
let Open311, Ajv2020, addFormats;
try {
  Open311 = require('open311');
  Ajv2020 = require('ajv/dist/2020.js');
  addFormats = require('ajv-formats');
} catch (e) {
  fail(`${e.message}\n  install the client's dependencies: npm ci --prefix tests/open311-client`);
}

const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
for (const file of readdirSync(join(here, 'schemas')).filter((f) => f.endsWith('.schema.json')).sort()) {
  ajv.addSchema(JSON.parse(readFileSync(join(here, 'schemas', file), 'utf8')));
}
const schemaId = (name) => `urn:cityserve:open311:georeport-v2:${name}`;
// Compile every schema now, so a broken schema fails here rather than mid-run.
for (const name of ['services', 'service-definition', 'post-request-response', 'service-requests', 'token-response', 'errors']) {
  try {
    if (!ajv.getSchema(schemaId(name))) fail(`no schema ${schemaId(name)} in schemas/`);
  } catch (e) {
    fail(`schemas/${name}.schema.json: ${e.message}`);
  }
}

/** Validates `doc` against schema `name` or fails the step. */
function validate(name, doc, what) {
  const check = ajv.getSchema(schemaId(name));
  if (!check) fail(`no schema ${name}`);
  if (!check(doc)) {
    fail(`${what} does not validate against schemas/${name}.schema.json: ${ajv.errorsText(check.errors, { separator: '; ' })}\n  ${JSON.stringify(doc)}`);
  }
  return `${name}.schema.json`;
}

// The client, constructed as the README documents: endpoint, jurisdiction, apiKey (format
// defaults to json).
const options = { endpoint, apiKey };
if (jurisdiction) options.jurisdiction = jurisdiction;
const client = new Open311(options);

/** Calls a callback-style library method, resolving `{err, data}`. */
function call(method, ...params) {
  return new Promise((resolve) => {
    client[method](...params, (err, data) => resolve({ err, data }));
  });
}

/** The URL of `path` (relative to the endpoint) with the jurisdiction and `query` added. */
function url(path, query = {}) {
  const u = new URL(path, endpoint);
  if (jurisdiction) u.searchParams.set('jurisdiction_id', jurisdiction);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u;
}

/** Fetches the same resource as a library call, raw, and checks status and content type. */
async function raw(path, { query, method = 'GET', form, status = 200 } = {}) {
  const init = { method, headers: { accept: 'application/json' } };
  if (form) {
    init.body = toForm(form).toString();
    init.headers['content-type'] = 'application/x-www-form-urlencoded; charset=utf-8';
  }
  const target = url(path, query);
  const res = await fetch(target, init);
  const body = await res.text();
  if (res.status !== status) fail(`${method} ${target.pathname} answered ${res.status}, expected ${status}: ${body}`);
  const type = res.headers.get('content-type') || '';
  if (!/^application\/json\s*;\s*charset=utf-8$/i.test(type)) {
    fail(`${method} ${target.pathname} has Content-Type "${type}", expected application/json; charset=utf-8`);
  }
  try {
    return { doc: JSON.parse(body), body };
  } catch (e) {
    fail(`${method} ${target.pathname} is not JSON (${e.message}): ${body}`);
  }
}

/** A report as a form: `attributes` become `attribute[code]=value`, a list `attribute[code][]=key` repeated. */
function toForm(report) {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(report)) {
    if (k !== 'attributes') {
      form.append(k, v);
      continue;
    }
    for (const [code, answer] of Object.entries(v)) {
      if (Array.isArray(answer)) answer.forEach((key) => form.append(`attribute[${code}][]`, key));
      else form.append(`attribute[${code}]`, answer);
    }
  }
  return form;
}

/** An answer to every question of a service definition, as a 311 app's form would give. */
function answersFor(definition) {
  const answers = {};
  for (const a of definition.attributes.filter((x) => x.variable)) {
    switch (a.datatype) {
      case 'singlevaluelist': answers[a.code] = String(a.values[0].key); break;
      case 'multivaluelist': answers[a.code] = a.values.slice(0, 2).map((v) => String(v.key)); break;
      case 'number': answers[a.code] = '12.5'; break;
      case 'datetime': answers[a.code] = new Date(Date.now() - 3_600_000).toISOString(); break;
      case 'text': answers[a.code] = 'Answered by the stock client\nover two lines'; break;
      default: answers[a.code] = 'stock client';
    }
  }
  return answers;
}

function ok(line) {
  console.log(`ok   ${step}: ${line}`);
}

// --- Steps ---------------------------------------------------------------------------------------

const jid = jurisdiction ? ` (jurisdiction ${jurisdiction})` : '';
let steps = 0;

// 1. GET Service List.
step = 'serviceList';
{
  const { err, data } = await call('serviceList');
  if (err) fail(`library error: ${data}`);
  if (!Array.isArray(data)) fail(`library returned ${JSON.stringify(data)}, expected a list`);
  if (!data.some((s) => s.service_code === serviceCode)) {
    fail(`${serviceCode} is not among ${JSON.stringify(data.map((s) => s.service_code))}`);
  }
  const { doc } = await raw('services.json');
  const schema = validate('services', doc, 'GET services.json');
  if (!isDeepStrictEqual(doc, data)) fail('the library and the raw GET services.json disagree');
  ok(`${data.length} service(s)${jid}, ${serviceCode} among them; services.json valid (${schema})`);
  steps++;
}

// 2. GET Service Definition.
step = 'serviceDefinition';
let definition;
{
  const { err, data } = await call('serviceDefinition', serviceCode);
  if (err) fail(`library error: ${data}`);
  if (data?.service_code !== serviceCode) fail(`library returned ${JSON.stringify(data)}`);
  const { doc } = await raw(`services/${serviceCode}.json`);
  const schema = validate('service-definition', doc, `GET services/${serviceCode}.json`);
  if (!isDeepStrictEqual(doc, data)) fail('the library and the raw definition disagree');
  definition = data;
  ok(`${serviceCode} has ${data.attributes.length} attribute(s); services/${serviceCode}.json valid (${schema})`);
  steps++;
}

// 3. POST Service Request, through the library; the raw POST files a second request.
step = 'submitRequest';
const email = `open311-client-${Date.now()}@example.org`;
const report = {
  service_code: serviceCode,
  lat: 39.9526,
  long: -75.1652,
  address_string: '1400 John F Kennedy Blvd',
  email,
  first_name: 'Stockclient',
  last_name: 'Resident',
  media_url: 'https://photos.example.org/open311-client/pothole.jpg',
  description: 'Filed by the stock open311 client: deep pothole in the bike lane',
  // The library sends each as attribute[code] (a list as the form library writes arrays).
  attributes: answersFor(definition),
};
let requestId;
{
  const { err, data } = await call('submitRequest', report);
  if (err) fail(`library error ${err}: ${data}`);
  validate('post-request-response', data, 'the POST requests.json response the library parsed');
  requestId = data[0].service_request_id;
  if (typeof requestId !== 'string' || !requestId) fail(`no service_request_id in ${JSON.stringify(data)}`);
  const form = { api_key: apiKey, ...report, description: `${report.description} (raw POST)` };
  if (jurisdiction) form.jurisdiction_id = jurisdiction;
  const { doc } = await raw('requests.json', { method: 'POST', form });
  const schema = validate('post-request-response', doc, 'POST requests.json');
  if (!doc[0].service_request_id || doc[0].service_request_id === requestId) {
    fail(`the raw POST returned ${JSON.stringify(doc)}, expected a second, different request`);
  }
  ok(`filed ${requestId} (and ${doc[0].service_request_id} raw) with ${Object.keys(report.attributes).length} answer(s); POST requests.json valid (${schema})`);
  steps++;
}

// 4. GET Service Request by id.
step = 'serviceRequest';
{
  const { err, data } = await call('serviceRequest', requestId);
  if (err) fail(`library error: ${data}`);
  if (!Array.isArray(data) || data.length !== 1) fail(`library returned ${JSON.stringify(data)}, expected one request`);
  const r = data[0];
  const expect = {
    service_request_id: requestId,
    status: 'open',
    service_code: serviceCode,
    address: report.address_string,
    lat: report.lat,
    long: report.long,
    media_url: report.media_url,
    description: report.description,
  };
  for (const [k, v] of Object.entries(expect)) {
    if (r[k] !== v) fail(`${k} is ${JSON.stringify(r[k])}, expected ${JSON.stringify(v)}`);
  }
  if (!(r.requested_datetime instanceof Date) || Number.isNaN(r.requested_datetime.getTime())) {
    fail(`the library could not read requested_datetime: ${r.requested_datetime}`);
  }
  const { doc, body } = await raw(`requests/${requestId}.json`);
  const schema = validate('service-requests', doc, `GET requests/${requestId}.json`);
  if (body.includes(email)) fail('the resident\'s e-mail address is published in GET requests');
  if (body.includes(report.first_name)) fail('the resident\'s name is published in GET requests');
  ok(`read ${requestId} back: ${r.status}, ${r.service_code}, "${r.address}"; requests/${requestId}.json valid (${schema})`);
  steps++;
}

// 5. GET Service Requests (the list, filtered by service_code and status).
step = 'serviceRequests';
{
  const params = { service_code: serviceCode, status: 'open' };
  const { err, data } = await call('serviceRequests', params);
  if (err) fail(`library error: ${data}`);
  if (!Array.isArray(data) || !data.some((r) => r.service_request_id === requestId)) {
    fail(`${requestId} is not in ${JSON.stringify(data)}`);
  }
  const { doc, body } = await raw('requests.json', { query: params });
  const schema = validate('service-requests', doc, 'GET requests.json');
  if (doc.length !== data.length) fail(`the library saw ${data.length} request(s), the raw GET ${doc.length}`);
  if (body.includes(email)) fail('the resident\'s e-mail address is published in GET requests');
  ok(`${data.length} open ${serviceCode} request(s), ${requestId} among them; requests.json valid (${schema})`);
  steps++;
}

// 6. GET service_request_id from a token (a realtime server accepts the id as its token).
step = 'token';
{
  const { err, data } = await call('token', requestId);
  if (err) fail(`library error: ${data}`);
  if (data?.[0]?.service_request_id !== requestId) fail(`library returned ${JSON.stringify(data)}`);
  const { doc } = await raw(`tokens/${requestId}.json`);
  const schema = validate('token-response', doc, `GET tokens/${requestId}.json`);
  ok(`token ${requestId} resolves to ${data[0].service_request_id}; tokens/${requestId}.json valid (${schema})`);
  steps++;
}

// 7. Errors: an unknown service (404), a wrong key through the library and no key at all (403).
step = 'errors';
{
  const missing = `${serviceCode}-no-such-service`;
  const { err, data } = await call('serviceDefinition', missing);
  if (!err || !String(data).includes('404')) fail(`the library did not report 404 for ${missing}: ${err} ${data}`);
  const notFound = await raw(`services/${missing}.json`, { status: 404 });
  validate('errors', notFound.doc, `GET services/${missing}.json`);
  if (notFound.doc[0].code !== 404) fail(`error code ${notFound.doc[0].code}, expected 404`);

  const wrongKey = new Open311({ ...options, apiKey: 'k-0.not-a-key' });
  const refused = await new Promise((resolve) => {
    wrongKey.submitRequest(report, (e, d) => resolve({ err: e, data: d }));
  });
  if (refused.err !== 403) fail(`the library reported ${refused.err} for a wrong api_key, expected 403: ${refused.data}`);
  const body = String(refused.data).slice(String(refused.data).indexOf('; ') + 2);
  validate('errors', JSON.parse(body), 'the POST response to a wrong api_key');

  const form = { ...report };
  if (jurisdiction) form.jurisdiction_id = jurisdiction;
  const noKey = await raw('requests.json', { method: 'POST', form, status: 403 });
  const schema = validate('errors', noKey.doc, 'POST requests.json without api_key');
  if (noKey.doc[0].code !== 403) fail(`error code ${noKey.doc[0].code}, expected 403`);

  // A required attribute left unanswered: 400 naming it, through the library and raw.
  let unanswered = '';
  const required = definition.attributes.find((a) => a.required);
  if (required) {
    const partial = { ...report, attributes: { ...report.attributes } };
    delete partial.attributes[required.code];
    const lib = await call('submitRequest', partial);
    if (lib.err !== 400) fail(`the library reported ${lib.err} for a missing required attribute, expected 400: ${lib.data}`);
    const rawForm = { api_key: apiKey, ...partial };
    if (jurisdiction) rawForm.jurisdiction_id = jurisdiction;
    const bad = await raw('requests.json', { method: 'POST', form: rawForm, status: 400 });
    validate('errors', bad.doc, 'POST requests.json without a required attribute');
    if (!String(bad.doc[0].description).includes(`attribute[${required.code}]`)) {
      fail(`the 400 does not name attribute[${required.code}]: ${JSON.stringify(bad.doc)}`);
    }
    unanswered = `, 400 naming attribute[${required.code}] left unanswered`;
  }
  ok(`404 for ${missing}, 403 for a wrong and for no api_key${unanswered}; every error list valid (${schema})`);
  steps++;
}

clearTimeout(deadline);
console.log(`check.mjs: all ${steps} steps passed against ${endpoint}`);
