// PLACEHOLDER until the router branch merges.
import type { MatchSpec, RouteSpec } from './route-spec.js';
export interface Rule { readonly route: RouteSpec; readonly routeIndex: number; readonly match: MatchSpec; readonly matchIndex: number }
export class RouteTable {
  static compile(routes: readonly RouteSpec[]): RouteTable { void routes; return new RouteTable(); }
  match(host: string | undefined, method: string, url: string, raw: readonly string[]): Rule | undefined { void host; void method; void url; void raw; return undefined; }
  readonly unreachable: readonly string[] = [];
  describe(): string { return ''; }
}
