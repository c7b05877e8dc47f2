import { AgentcastClient } from './agentcast-client.js';
import { type ConnectOptions, resolveOptions } from './client-options.js';

/**
 * Connects to an agentcast gateway and keeps the connection alive (see docs/client.md). Throws a
 * TypeError naming the option when an option is invalid; everything after that is reported through
 * `onLifecycle('error')` and rejected promises.
 *
 * ```ts
 * const client = connect({ url: 'wss://example.com/ws', getToken: () => fetchToken() });
 * client.on('*', (event) => render(event));
 * ```
 */
export function connect(options: ConnectOptions): AgentcastClient {
  return new AgentcastClient(resolveOptions(options));
}
