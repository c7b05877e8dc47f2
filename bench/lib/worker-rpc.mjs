/**
 * The worker side of the orchestrator's IPC calls: `{id, cmd, args}` in, `{id, ok, result | error}` out.
 * A worker exits as soon as the orchestrator goes away, so no load process outlives a run.
 */
export function serveRpc(handlers) {
  if (typeof process.send !== 'function') {
    process.stderr.write('this is a bench worker: start it through bench/run.mjs\n');
    process.exit(2);
  }
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg) => {
    if (msg === null || typeof msg !== 'object' || typeof msg.cmd !== 'string') return;
    const handler = handlers[msg.cmd];
    const reply = (body) => {
      if (process.connected) process.send({ id: msg.id, ...body });
    };
    if (handler === undefined) {
      reply({ ok: false, error: `unknown command ${msg.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(msg.args ?? {}))
      .then(
        (result) => reply({ ok: true, result }),
        (err) => reply({ ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
}
