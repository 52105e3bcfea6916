// The app of bench/cluster.sh, the same under tend and PM2: a Node HTTP server that answers
// "ok <pid>". It listens on the socket tend passes (LISTEN_FDS, fd 3), or on $PORT (under
// PM2's cluster mode the cluster module shares it). On SIGTERM, SIGINT or PM2's "shutdown"
// message it drains: stops accepting, answers what it has with "Connection: close", exits.
'use strict';
const http = require('http');

let closing = false;
const server = http.createServer((req, res) => {
  if (closing) res.setHeader('Connection', 'close');
  res.end(`ok ${process.pid}\n`);
});
server.keepAliveTimeout = 5000;

const activated = process.env.LISTEN_FDS === '1' && Number(process.env.LISTEN_PID) === process.pid;
server.listen(activated ? { fd: 3 } : Number(process.env.PORT || 3000), () => {
  if (process.send) process.send('ready');
});

// Stops accepting, but keeps the keep-alive connections it has until each has had one more
// answer (with "Connection: close"): closing an idle one could cross a request the client is
// sending on it. (Node 19+'s server.close() closes idle connections itself; not here.)
function drain() {
  if (closing) return;
  closing = true;
  server.closeIdleConnections = () => {};
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 4000).unref();
}
process.on('SIGTERM', drain);
process.on('SIGINT', drain);
process.on('message', (m) => { if (m === 'shutdown') drain(); });
