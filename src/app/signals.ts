import type { LoadBalancer } from './load-balancer.js';
import { flushLogger } from './logger.js';

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGINT: 2, SIGTERM: 15 };

/**
 * SIGTERM or SIGINT starts a graceful stop and exits 0 when it is done; a second signal exits at
 * once with 128 + the signal's number, as a shell would report it. Returns the handler, for
 * stops that arrive another way (a cluster primary's message).
 */
export function handleSignals(lb: LoadBalancer): (signal: NodeJS.Signals) => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      lb.log.warn({ signal, inFlight: lb.inFlight }, 'second signal: exiting now');
      flushLogger(lb.log);
      process.exit(128 + (SIGNAL_NUMBERS[signal] ?? 0));
    }
    stopping = true;
    lb.log.info({ signal }, 'signal received: draining');
    lb.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        lb.log.fatal({ err }, 'shutdown failed');
        flushLogger(lb.log);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP re-reads the TLS certificate and key; without TLS it is logged and ignored.
  process.on('SIGHUP', () => {
    if (lb.config.tls.cert === undefined) lb.log.info('SIGHUP received: nothing to reload (TLS is off)');
    else lb.reloadTls();
  });
  return onSignal;
}
