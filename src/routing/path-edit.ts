import type { PathModifier } from './route-spec.js';

/** Where the query starts in a request target, or its length when it has none. */
export function pathEnd(url: string): number {
  const q = url.indexOf('?');
  return q < 0 ? url.length : q;
}

/**
 * The request target with its path replaced as a URLRewrite or RequestRedirect path modifier
 * says (the query kept). `prefix` is the PathPrefix the request matched: ReplacePrefixMatch
 * replaces exactly it, element-wise, so `/v1` → `/` makes `/v1/users` `/users` and `/v1` `/`.
 */
export function editPath(url: string, modifier: PathModifier, prefix: string | undefined): string {
  const end = pathEnd(url);
  const query = url.slice(end);
  if (modifier.type === 'ReplaceFullPath') return modifier.replaceFullPath + query;
  // Validation allows ReplacePrefixMatch only on routes whose matches are all PathPrefix.
  const matched = prefix === undefined || prefix === '/' ? 0 : prefix.length;
  const rest = url.slice(matched, end);
  const replacement = modifier.replacePrefixMatch;
  let path: string;
  if (rest === '') path = replacement;
  else if (replacement.endsWith('/')) path = replacement + rest.slice(1);
  else path = replacement + rest;
  return (path === '' ? '/' : path) + query;
}
