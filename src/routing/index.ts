export { parseRoutes } from './route-spec.js';
export type { BackendRef, FilterSpec, HeaderMatch, HeaderModifierSpec, MatchSpec, PathMatch, PathModifier, PathType, QueryMatch, RouteSpec, ValueType } from './route-spec.js';
export { RouteTable, type Rule } from './route-table.js';
