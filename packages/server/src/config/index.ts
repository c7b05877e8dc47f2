export type { Config } from './config.js';
export { helpText } from './help-text.js';
export { type ConfigSources, loadConfig, loadConfigFromProcess } from './load-config.js';
export {
  ENVIRONMENTS,
  type Environment,
  envName,
  flagName,
  OPTION_SPECS,
  type OptionSpec,
} from './options.js';
