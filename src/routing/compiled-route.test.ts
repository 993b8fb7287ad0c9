import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchReason } from './compiled-route.js';

test('why a route matched, as X-LB-Explain says it: the path match, method, headers, query and the route\'s hostnames', () => {
  assert.equal(matchReason({ path: { type: 'PathPrefix', value: '/v1' }, method: undefined, headers: [], queryParams: [] }, ['api.example.com']),
    'match=PathPrefix:/v1 host=api.example.com');
  assert.equal(matchReason({
    path: { type: 'Exact', value: '/login' }, method: 'POST',
    headers: [{ type: 'Exact', name: 'x-env', value: 'canary' }], queryParams: [{ type: 'RegularExpression', name: 'v', value: '^2' }],
  }, ['a.example.com', '*.example.org']), 'match=Exact:/login method=POST header=x-env:Exact:canary query=v:RegularExpression:^2 host=a.example.com,*.example.org');
  assert.equal(matchReason(undefined, []), 'match=PathPrefix:/', 'a route without matches matches every path');
});
