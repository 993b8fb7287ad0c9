export { parseRoutes } from './route-spec.js';
export type { BackendRef, FilterSpec, HeaderMatch, HeaderModifierSpec, MatchSpec, PathMatch, PathModifier, PathType, QueryMatch, RouteSpec, ValueType } from './route-spec.js';
export { RouteTable, type Rule } from './route-table.js';
export { refuse, Router } from './router.js';
export { AuthShared } from './auth/index.js';
export { CompiledRoute, type RouteTarget } from './compiled-route.js';
export { Mirrors, MIRROR_MAX_IN_FLIGHT, type MirrorCounts } from './mirror.js';
export { HeaderModifier, requestHost } from './header-edit.js';
