// PLACEHOLDER until the router branch merges (types as agreed).
export type PathType = 'Exact' | 'PathPrefix' | 'RegularExpression';
export type ValueType = 'Exact' | 'RegularExpression';
export interface PathMatch { readonly type: PathType; readonly value: string }
export interface HeaderMatch { readonly type: ValueType; readonly name: string; readonly value: string }
export interface QueryMatch { readonly type: ValueType; readonly name: string; readonly value: string }
export interface MatchSpec { readonly path: PathMatch; readonly method: string | undefined; readonly headers: readonly HeaderMatch[]; readonly queryParams: readonly QueryMatch[] }
export interface HeaderModifierSpec { readonly set: readonly { name: string; value: string }[]; readonly add: readonly { name: string; value: string }[]; readonly remove: readonly string[] }
export type PathModifier = { readonly type: 'ReplaceFullPath'; readonly replaceFullPath: string } | { readonly type: 'ReplacePrefixMatch'; readonly replacePrefixMatch: string };
export type FilterSpec =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifierSpec }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifierSpec }
  | { readonly type: 'URLRewrite'; readonly urlRewrite: { readonly hostname?: string; readonly path?: PathModifier } }
  | { readonly type: 'RequestRedirect'; readonly requestRedirect: { readonly scheme?: 'http' | 'https'; readonly hostname?: string; readonly port?: number; readonly path?: PathModifier; readonly statusCode: 301 | 302 | 303 | 307 | 308 } }
  | { readonly type: 'RequestMirror'; readonly requestMirror: { readonly backendRef: { readonly name: string }; readonly percent: number } }
  | { readonly type: 'DirectResponse'; readonly directResponse: { readonly statusCode: number; readonly body: string; readonly contentType: string; readonly headers: readonly { name: string; value: string }[] } };
export interface BackendRef { readonly name: string; readonly weight: number }
export interface RouteSpec {
  readonly name: string;
  readonly hostnames: readonly string[];
  readonly matches: readonly MatchSpec[];
  readonly filters: readonly FilterSpec[];
  readonly backendRefs: readonly BackendRef[];
}
export function parseRoutes(data: unknown, pools: ReadonlySet<string>, source: string | undefined): RouteSpec[] {
  void pools; void source;
  return data as RouteSpec[];
}
