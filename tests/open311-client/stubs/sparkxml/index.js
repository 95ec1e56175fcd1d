// Stand-in for codeforamerica/node-sparkxml, which open311 requires at load time but uses only
// when `format: 'xml'`. The harness talks JSON, so any call here is a bug: fail loudly.
'use strict';
function unsupported() {
  throw new Error('sparkxml stub: the open311 client is used with format "json" only in this harness');
}
module.exports = { parseXml: unsupported };
