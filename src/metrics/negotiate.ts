/**
 * Whether a scrape's `Accept` header prefers OpenMetrics to the Prometheus text format: it names
 * `application/openmetrics-text` with a quality above zero and at least that of `text/plain`
 * (Prometheus sends `application/openmetrics-text;version=1.0.0,…,text/plain;version=0.0.4;q=0.5,*∕*;q=0.1`).
 * A client that does not ask (curl, older scrapers) gets the text format, as before.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined || !accept.includes('openmetrics')) return false;
  let open = 0;
  let text = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';');
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m !== null) q = Number(m[1]);
    }
    if (!Number.isFinite(q)) continue;
    const media = type.trim().toLowerCase();
    if (media === 'application/openmetrics-text') open = Math.max(open, q);
    else if (media === 'text/plain') text = Math.max(text, q);
  }
  return open > 0 && open >= text;
}
