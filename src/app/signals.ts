import type { Logger } from 'pino';
import type { LoadBalancer } from './load-balancer.js';
import { flushLogger } from './logger.js';

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGINT: 2, SIGTERM: 15 };

/** Start-up failed (a port taken, say): says why in the log and on standard error, exits 1. */
export function exitCannotStart(log: Logger, failure: { code?: string | undefined; message: string }): never {
  log.fatal({ code: failure.code, err: failure.message }, 'cannot start');
  flushLogger(log);
  process.stderr.write(`lb: cannot start: ${failure.message}\n`);
  process.exit(1);
}

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
  // SIGHUP re-reads the TLS certificate and key, and the configuration.
  process.on('SIGHUP', () => {
    if (lb.config.tls.cert !== undefined) lb.reloadTls();
    if (lb.reloadable) {
      lb.log.info('SIGHUP received: reloading the configuration');
      lb.reload();
    } else if (lb.config.tls.cert === undefined) {
      lb.log.info('SIGHUP received: nothing to reload');
    }
  });
  return onSignal;
}
