/**
 * TCP listeners for network isolation tests, run inside a network namespace
 * the test made (`nsenter --net=… node listeners.js READY-FILE ADDRESS:PORT=BANNER …`):
 * each answers every connection with its banner and closes it. Writes
 * READY-FILE once all of them listen.
 */
import fs from 'node:fs';
import net from 'node:net';

const [ready, ...given] = process.argv.slice(2);
const specs = given.map((spec) => {
  const match = /^(.+):(\d+)=(.+)$/.exec(spec);
  if (!match) throw new Error(`bad listener ${spec}: ADDRESS:PORT=BANNER`);
  return { host: match[1]!, port: Number(match[2]), banner: match[3]! };
});
await Promise.all(
  specs.map(
    ({ host, port, banner }) =>
      new Promise<void>((resolve, reject) => {
        const server = net.createServer((socket) => {
          socket.on('error', () => {});
          socket.end(`${banner}\n`);
        });
        server.once('error', reject);
        server.listen({ host, port }, () => resolve());
      }),
  ),
);
fs.writeFileSync(ready!, 'LISTENING\n');
