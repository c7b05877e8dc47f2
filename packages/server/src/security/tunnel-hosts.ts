/**
 * Domains of public tunnel services, which expose a developer's machine under a public name. An origin
 * under one of them is refused in production (docs/protocol.md §5): it points at somebody's laptop, and
 * anyone can register a name under the same domain. Matched as the domain itself or any name below it.
 */
export const TUNNEL_HOST_SUFFIXES: readonly string[] = [
  // ngrok
  'ngrok.io',
  'ngrok.app',
  'ngrok.dev',
  'ngrok-free.app',
  'ngrok-free.dev',
  // localtunnel
  'loca.lt',
  'localtunnel.me',
  // Cloudflare quick tunnels
  'trycloudflare.com',
  // serveo
  'serveo.net',
  'serveousercontent.com',
  // localhost.run
  'localhost.run',
  'lhr.life',
  'lhr.rocks',
  // pagekite
  'pagekite.me',
  // telebit
  'telebit.io',
  'telebit.cloud',
  // tunnelto, LocalXpose, bore, pinggy, Expose
  'tunnelto.dev',
  'loclx.io',
  'bore.pub',
  'pinggy.link',
  'pinggy.online',
  'sharedwithexpose.com',
  // VS Code dev tunnels and GitHub Codespaces port forwarding
  'devtunnels.ms',
  'app.github.dev',
];

/** The tunnel domain `host` belongs to (itself or a name below it), or undefined. */
export function tunnelDomainOf(host: string): string | undefined {
  return TUNNEL_HOST_SUFFIXES.find((suffix) => host === suffix || host.endsWith(`.${suffix}`));
}
