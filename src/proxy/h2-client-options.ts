import { constants, type ClientHttp2Session, type ClientSessionOptions } from 'node:http2';
import { ProxyError } from '../errors/index.js';
import { limitControlFrames } from './h2-control-frames.js';

/** Largest response head (or trailers) taken from an HTTP/2 backend; larger resets its stream (502). */
export const BACKEND_MAX_HEADER_LIST_SIZE = 64 * 1024;

/**
 * What every HTTP/2 session to a backend is opened with. A backend is trusted no more than a
 * client where a broken one could hurt the balancer: its header sections are bounded, its
 * SETTINGS frames too, and server push is refused (a PUSH_PROMISE is a connection error, RFC
 * 9113 §8.4: nothing here would read a pushed stream).
 */
export const H2_CLIENT_OPTIONS: ClientSessionOptions = {
  settings: { enablePush: false, maxHeaderListSize: BACKEND_MAX_HEADER_LIST_SIZE },
  maxSettings: 32,
};

/**
 * A backend that floods PING or SETTINGS frames while it has no stream of ours (see
 * limitControlFrames) loses its session: GOAWAY (ENHANCE_YOUR_CALM), and whatever it carries
 * fails with a reset (502, retried as any reset is). `idle` says when the session has no stream.
 */
export function guardBackendSession(session: ClientHttp2Session, idle: () => boolean): void {
  limitControlFrames(session, idle, (frames) => {
    session.destroy(new ProxyError('LB_ERR_UPSTREAM_RESET', `backend flooded PING/SETTINGS frames (${frames})`), constants.NGHTTP2_ENHANCE_YOUR_CALM);
  });
}
