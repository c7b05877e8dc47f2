'use strict';
// Preloaded into every server under test (`node --expose-gc --require bench/lib/mem-probe.cjs`), the same
// way for agentcast, bare ws and Socket.IO, so memory is measured by one method for all three:
// on {type:'bench:mem'} over the IPC channel it runs a full GC and answers with process.memoryUsage().
// It also makes the server exit when the bench orchestrator goes away, so no server outlives a run.
if (typeof process.send === 'function') {
  process.on('message', (msg) => {
    if (msg === null || typeof msg !== 'object' || msg.type !== 'bench:mem') return;
    if (typeof global.gc === 'function') {
      global.gc();
      global.gc();
    }
    setImmediate(() => process.send({ type: 'bench:mem', id: msg.id, mem: process.memoryUsage() }));
  });
  process.on('disconnect', () => {
    process.kill(process.pid, 'SIGTERM');
    setTimeout(() => process.exit(1), 3000).unref();
  });
}
