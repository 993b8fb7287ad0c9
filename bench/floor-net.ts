/**
 * The floor of a raw-socket path, server side: a `net.Server` answering every request head with
 * a canned HTTP/1.1 response, no HTTP machinery at all (it only counts blank lines; GET
 * requests without bodies, as the benchmark sends). What Node's sockets alone cost per
 * request: the lower bound of one side of the fast engine (docs/performance.md). Env: BENCH_PORT.
 */
import { createServer } from 'node:net';

const response = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\nhello\n');
const END = Buffer.from('\r\n\r\n');

createServer((socket) => {
  let carry = 0; // bytes of a partial head-terminator match carried over from the last chunk
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    let heads = 0;
    let at = 0;
    if (carry > 0) {
      const need = END.subarray(carry);
      if (chunk.subarray(0, need.length).equals(need)) { heads++; at = need.length; }
      carry = 0;
    }
    for (;;) {
      const i = chunk.indexOf(END, at);
      if (i < 0) break;
      heads++;
      at = i + 4;
    }
    for (let k = 3; k > 0; k--) {
      if (chunk.length - at >= k && chunk.subarray(chunk.length - k).equals(END.subarray(0, k))) { carry = k; break; }
    }
    if (heads === 1) socket.write(response);
    else if (heads > 1) socket.write(Buffer.concat(Array.from({ length: heads }, () => response)));
  });
  socket.on('error', () => socket.destroy());
}).listen(Number(process.env.BENCH_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
