// Stand-in for xml2json 0.2 (a node-expat 1.4 native addon from 2012 that does not build on
// current Node). open311 requires it at load time but uses it only when `format: 'xml'`. The
// harness talks JSON, so any call here is a bug: fail loudly.
'use strict';
function unsupported() {
  throw new Error('xml2json stub: the open311 client is used with format "json" only in this harness');
}
module.exports = { toJson: unsupported };
