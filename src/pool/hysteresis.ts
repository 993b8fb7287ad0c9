/** Hysteresis of the active checks: the current verdict and the streak of results against it. */
export interface HealthState {
  healthy: boolean | undefined;
  streak: number;
}

/**
 * The hysteresis transition (HAProxy's rise/fall): returns true only when the verdict flips.
 * The first result decides at once, so start-up does not wait `rise` rounds.
 */
export function transition(state: HealthState, passed: boolean, rise: number, fall: number): boolean {
  if (state.healthy === undefined) {
    state.healthy = passed;
    state.streak = 0;
    return true;
  }
  if (passed === state.healthy) {
    state.streak = 0;
    return false;
  }
  state.streak++;
  if (state.streak < (passed ? rise : fall)) return false;
  state.healthy = passed;
  state.streak = 0;
  return true;
}
