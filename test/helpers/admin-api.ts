import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';

export interface ApiResponse { status: number; body: any; text: string; headers: IncomingMessage['headers'] }

/** One call to the admin API (or its probes and /metrics) at `base`: status, parsed JSON body (if any), raw text and headers. */
export async function adminApi(base: string, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<ApiResponse> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const req = httpRequest(`${base}${path}`, { method, agent: false, headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) } });
  req.end(payload);
  const [res] = await once(req, 'response') as [IncomingMessage];
  let text = '';
  for await (const chunk of res) text += chunk;
  let parsed: unknown;
  try { parsed = JSON.parse(text); } catch { parsed = undefined; }
  return { status: res.statusCode!, body: parsed, text, headers: res.headers };
}
